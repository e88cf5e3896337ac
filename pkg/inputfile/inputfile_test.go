package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestReadTakesRegularFilesWithinTheLimit(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	big := filepath.Join(dir, "big")
	fifo := filepath.Join(dir, "fifo")
	for p, n := range map[string]int{small: 10, big: 11} {
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := Read(small, "input", 10); err != nil || len(data) != 10 {
		t.Errorf("Read(small) = %d bytes, %v; want the 10 bytes", len(data), err)
	}
	for path, want := range map[string]error{big: ErrTooLarge, fifo: ErrNotRegular, dir: ErrNotRegular, "/dev/zero": ErrNotRegular} {
		if _, err := Read(path, "input", 10); !errors.Is(err, want) {
			t.Errorf("Read(%s) = %v, want %v", path, err, want)
		}
	}
	if err := Check(filepath.Join(dir, "none"), "input", 10); err != nil {
		t.Errorf("Check of a missing path = %v: that is the reader's to report", err)
	}
	if _, err := Read(filepath.Join(dir, "none"), "input", 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a missing path = %v, want it not found", err)
	}
}
