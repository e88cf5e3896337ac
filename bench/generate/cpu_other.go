//go:build !unix

package main

import "time"

// selfCPU is not measured here; the benchmark prints 0.
func selfCPU() time.Duration { return 0 }
