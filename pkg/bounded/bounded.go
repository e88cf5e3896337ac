// Package bounded stops a read at a size limit, for answers from servers
// (API servers, remote kustomize resources) that the tool must not hold
// in memory whole, however much they send.
package bounded

import "io"

// ReadCloser reads from rc until more than limit bytes came, then fails
// every read with err. It reads at most one byte past the limit, so that
// an answer of exactly limit bytes passes.
func ReadCloser(rc io.ReadCloser, limit int64, err error) io.ReadCloser {
	return &body{ReadCloser: rc, left: limit, err: err}
}

type body struct {
	io.ReadCloser
	left int64
	err  error
}

func (b *body) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, b.err
	}
	return n, err
}
