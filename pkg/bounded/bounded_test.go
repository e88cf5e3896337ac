package bounded

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadCloserStopsPastTheLimit(t *testing.T) {
	tooLarge := errors.New("too large")
	for _, tc := range []struct {
		body    string
		limit   int64
		wantErr bool
	}{
		{"", 0, false},
		{"abc", 3, false},
		{"abcd", 3, true},
		{strings.Repeat("x", 1<<20), 1 << 10, true},
	} {
		b, err := io.ReadAll(ReadCloser(io.NopCloser(strings.NewReader(tc.body)), tc.limit, tooLarge))
		if tc.wantErr {
			if !errors.Is(err, tooLarge) || int64(len(b)) > tc.limit {
				t.Errorf("%d bytes, limit %d: read %d bytes, err %v; want the limit's error", len(tc.body), tc.limit, len(b), err)
			}
			continue
		}
		if err != nil || string(b) != tc.body {
			t.Errorf("%d bytes, limit %d: read %d bytes, err %v; want all of it", len(tc.body), tc.limit, len(b), err)
		}
	}
}
