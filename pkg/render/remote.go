package render

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"

	"github.com/envops/kubectl-envops/pkg/bounded"
	"github.com/envops/kubectl-envops/pkg/yamlsize"
)

// RemoteTooLargeError is a remote resource larger than a file kustomize
// may read (yamlsize.MaxFileBytes): it is refused after that many bytes,
// never held whole in memory.
type RemoteTooLargeError struct {
	URL   string
	Limit int64
}

func (e *RemoteTooLargeError) Error() string {
	return fmt.Sprintf("the remote resource %s is larger than %d MiB: vendor a smaller file into the repository", e.URL, e.Limit>>20)
}

// Is makes the error input kustomize must not read.
func (e *RemoteTooLargeError) Is(target error) bool { return target == ErrInput }

// remoteTooLarge finds a RemoteTooLargeError in kustomize's message,
// which keeps only its text.
var remoteTooLarge = regexp.MustCompile(`the remote resource (\S+) is larger than (\d+) MiB`)

// remoteTooLargeIn is the RemoteTooLargeError that kustomize's message
// msg tells of, or nil.
func remoteTooLargeIn(msg string) error {
	m := remoteTooLarge.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	mib, _ := strconv.ParseInt(m[2], 10, 64)
	return &RemoteTooLargeError{URL: m[1], Limit: mib << 20}
}

// boundRemote makes sure remote resources are bounded, once per process.
var boundRemote sync.Once

// boundRemoteLoads bounds every answer of the process's default HTTP
// transport, which is how kustomize loads a remote resource: it builds
// its own client on it and offers no way to pass another, and reads each
// answer whole. Nothing else of this tool fetches anything that large
// through that transport (webhook answers are a few bytes).
func boundRemoteLoads() {
	boundRemote.Do(func() {
		http.DefaultTransport = &boundedTransport{base: http.DefaultTransport, limit: yamlsize.MaxFileBytes}
	})
}

type boundedTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	tooLarge := &RemoteTooLargeError{URL: req.URL.Redacted(), Limit: t.limit}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, tooLarge
	}
	resp.Body = bounded.ReadCloser(resp.Body, t.limit, tooLarge)
	return resp, nil
}
