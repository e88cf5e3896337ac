// Package kubetest holds the fakes that tests of this module share: API
// servers that misbehave (silent, slow, huge, refusing, answering HTML),
// credential plugins that misbehave (hanging, flooding) or answer, and
// kubeconfigs that point at them. It is test support: nothing else imports
// it.
package kubetest

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envops/kubectl-envops/pkg/kube"
)

// Main runs the tests of a package whose tests use credential plugins: a
// client of this module runs a plugin through its own binary
// (kube.CredentialPluginCommand), which in a test is the test binary.
func Main(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == kube.CredentialPluginCommand {
		os.Exit(kube.RunCredentialPlugin(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// Server is a fake API server.
type Server struct {
	// URL is its address for a kubeconfig, Addr its host:port.
	URL, Addr string
	// Requests counts the requests it received.
	Requests func() int
	// Authorization is the Authorization header of the last request.
	Authorization func() string
}

// serve starts an HTTPS server answering with h until the test ends;
// done is closed then, so that a handler that waits can stop.
func serve(t testing.TB, h func(w http.ResponseWriter, r *http.Request, done <-chan struct{})) *Server {
	t.Helper()
	var n atomic.Int64
	var auth atomic.Value
	auth.Store("")
	done := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		auth.Store(r.Header.Get("Authorization"))
		h(w, r, done)
	}))
	srv.StartTLS()
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return &Server{URL: srv.URL, Addr: srv.Listener.Addr().String(),
		Requests:      func() int { return int(n.Load()) },
		Authorization: func() string { return auth.Load().(string) }}
}

// Silent is an API server that completes TLS, reads each request and
// never answers.
func Silent(t testing.TB) *Server {
	return serve(t, func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	})
}

// NotFound is an API server that answers every request at once with a 404
// Status, as a server that holds no such object does.
func NotFound(t testing.TB) *Server { return Slow(t, 0) }

// Slow is an API server that answers every request after delay with a
// 404 Status, as a server that holds no such object would.
func Slow(t testing.TB, delay time.Duration) *Server {
	return serve(t, func(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		select {
		case <-time.After(delay):
		case <-done:
			return
		case <-r.Context().Done():
			return
		}
		notFound(w)
	})
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"not found","reason":"NotFound","code":404}`)
}

// Huge is an API server that answers every request with a JSON document
// of size bytes, streamed without a Content-Length when chunked, else
// announced by one. It writes without holding the answer in memory.
func Huge(t testing.TB, size int64, chunked bool) *Server {
	return serve(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		w.Header().Set("Content-Type", "application/json")
		if !chunked {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, HugeJSON(size))
	})
}

// HugeJSON is a JSON object of size bytes (at least 64): a Secret whose
// one value never ends.
func HugeJSON(size int64) io.Reader {
	head := `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"environment"},"data":{"environment":"`
	tail := `"}}`
	fill := max(size-int64(len(head)+len(tail)), 0)
	return io.MultiReader(strings.NewReader(head), io.LimitReader(repeat('A'), fill), strings.NewReader(tail))
}

type repeatReader byte

func repeat(b byte) io.Reader { return repeatReader(b) }

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// HTML is an API server that answers every request 200 with an HTML page,
// as a login portal or a proxy in front of the cluster does.
func HTML(t testing.TB) *Server {
	return serve(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in to continue</body></html>\n")
	})
}

// Refusing is an address where nothing listens, so that every connection
// is refused at once.
func Refusing(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return &Server{URL: "https://" + addr, Addr: addr, Requests: func() int { return 0 }, Authorization: func() string { return "" }}
}

// Context is one context of a kubeconfig that Kubeconfig writes.
type Context struct {
	Name, Server, Namespace string
	// Token is the user's token; Plugin, when set, its credential plugin
	// (user.exec) instead.
	Token  string
	Plugin *Plugin
}

// Kubeconfig writes a kubeconfig of the contexts, the first one current,
// each with a cluster and a user of its own name, and returns its path.
func Kubeconfig(t testing.TB, contexts ...Context) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for _, c := range contexts {
		fmt.Fprintf(&b, "- name: %s\n  cluster: {server: %q, insecure-skip-tls-verify: true}\n", c.Name, c.Server)
	}
	b.WriteString("users:\n")
	for _, c := range contexts {
		fmt.Fprintf(&b, "- name: %s\n  user:\n", c.Name)
		if c.Plugin != nil {
			fmt.Fprintf(&b, "    exec: {apiVersion: client.authentication.k8s.io/v1, command: %q, interactiveMode: Never}\n", c.Plugin.Path)
		} else {
			fmt.Fprintf(&b, "    token: %q\n", cmp.Or(c.Token, "token"))
		}
	}
	b.WriteString("contexts:\n")
	for _, c := range contexts {
		ns := c.Namespace
		if ns == "" {
			ns = "default"
		}
		fmt.Fprintf(&b, "- name: %s\n  context: {cluster: %s, user: %s, namespace: %s}\n", c.Name, c.Name, c.Name, ns)
	}
	if len(contexts) > 0 {
		fmt.Fprintf(&b, "current-context: %s\n", contexts[0].Name)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Restarting is an API server that refuses connections for down, as one
// does while it restarts, then answers every request with a 404 Status.
func Restarting(t testing.TB, down time.Duration) *Server {
	t.Helper()
	s := Refusing(t)
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		notFound(w)
	}))
	started := make(chan struct{})
	timer := time.AfterFunc(down, func() {
		defer close(started)
		l, err := net.Listen("tcp", s.Addr)
		if err != nil {
			t.Errorf("restart the fake API server on %s: %v", s.Addr, err)
			return
		}
		srv.Listener.Close()
		srv.Listener = l
		srv.StartTLS()
	})
	t.Cleanup(func() {
		if !timer.Stop() {
			<-started
		}
		srv.Close()
	})
	s.Requests = func() int { return int(n.Load()) }
	return s
}
