package render

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/inputfile"
	"github.com/envops/kubectl-envops/pkg/yamlsize"
)

// ErrInput matches (errors.Is) the errors for input that is refused
// before kustomize reads it: a file too large, a YAML alias bomb, a remote
// resource while remote loads are off. It is the user's to fix.
var ErrInput = errors.New("refused input")

// inputError is an error that matches ErrInput without saying so.
type inputError struct{ error }

func (e inputError) Is(target error) bool { return target == ErrInput }
func (e inputError) Unwrap() error        { return e.error }

// screenedFS is the filesystem kustomize reads through. Every file is read
// with a size bound and its YAML documents are sized with aliases expanded
// before kustomize, which expands every alias, sees them. Kustomization
// files are checked for remote references when remote loads are off.
type screenedFS struct {
	filesys.FileSystem
	noRemote bool
	// ownSchemaAllowed lets a kustomization that declares its own OpenAPI
	// schema be read; without it, reading one fails and is recorded, so
	// that the build stops before kustomize installs the schema.
	ownSchemaAllowed bool

	mu sync.Mutex
	// refused is the first file refused: kustomize's own message for a
	// failed read is nested and long, so build reports this instead.
	refused error
	// remote is the first remote reference seen, for the timeout message.
	remote string
	// ownSchema is the first kustomization refused for declaring its own
	// OpenAPI schema while ownSchemaAllowed is false.
	ownSchema string
}

func newScreenedFS(fsys filesys.FileSystem, noRemote, ownSchemaAllowed bool) *screenedFS {
	return &screenedFS{FileSystem: fsys, noRemote: noRemote, ownSchemaAllowed: ownSchemaAllowed}
}

// errOwnSchema stops a shared build at a kustomization that declares its
// own OpenAPI schema; the build runs again alone.
var errOwnSchema = errors.New("declares its own OpenAPI schema")

// sawOwnSchema reports whether a kustomization was refused for declaring
// its own OpenAPI schema.
func (s *screenedFS) sawOwnSchema() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ownSchema != ""
}

// ReadFile reads path for kustomize, refusing what it must not parse.
func (s *screenedFS) ReadFile(path string) ([]byte, error) {
	if onDisk(s.FileSystem) {
		// Opening a FIFO waits for a writer, and a device never ends:
		// kustomize reads regular files only.
		if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() && !info.IsDir() {
			return nil, s.refuse(inputError{fmt.Errorf("%s is %s, not a regular file: kustomize reads its resources, patches and generator files from regular files", path, inputfile.Kind(info.Mode()))})
		}
	}
	f, err := s.FileSystem.Open(path)
	if err != nil {
		return nil, err
	}
	data, err := yamlsize.ReadAll(f, yamlsize.MaxFileBytes)
	_ = f.Close()
	if errors.Is(err, yamlsize.ErrTooLarge) {
		return nil, s.refuse(inputError{fmt.Errorf("%s is %w: split it into smaller files", path, err)})
	}
	if err != nil {
		return nil, err
	}
	if err := yamlsize.Check(data); err != nil {
		return nil, s.refuse(inputError{fmt.Errorf("%s: %w; write the values out instead of nesting aliases", path, err)})
	}
	isKustomization := slices.Contains(konfig.RecognizedKustomizationFileNames(), filepath.Base(path))
	if isKustomization {
		if err := secretLiteralError(path, data); err != nil {
			return nil, s.refuse(err)
		}
	}
	if isKustomization && mayNeedScreening(data) {
		k := parseKustomization(data)
		if len(k.OpenAPI) > 0 && !s.ownSchemaAllowed {
			s.mu.Lock()
			if s.ownSchema == "" {
				s.ownSchema = path
			}
			s.mu.Unlock()
			return nil, fmt.Errorf("%s %w", path, errOwnSchema)
		}
		if ref := remoteReference(k); ref != "" {
			s.mu.Lock()
			if s.remote == "" {
				s.remote = ref
			}
			s.mu.Unlock()
			if s.noRemote {
				return nil, s.refuse(inputError{fmt.Errorf("%s refers to the remote resource %q, and remote resources are turned off: vendor it into the repository, or allow them with --remote-resources or kustomize.remoteResources in .envops.yaml", path, ref)})
			}
		}
	}
	return data, nil
}

// onDisk tells whether fsys reads the disk, where a path may name a FIFO
// or a device.
func onDisk(fsys filesys.FileSystem) bool {
	if _, ok := fsys.(*confinedFS); ok {
		return true
	}
	return reflect.TypeOf(fsys) == diskType
}

var diskType = reflect.TypeOf(filesys.MakeFsOnDisk())

func (s *screenedFS) refuse(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = err
	}
	return err
}

func (s *screenedFS) firstRefusal() (refused error, remote string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused, s.remote
}

// mayNeedScreening tells whether a kustomization can hold what ReadFile
// refuses, without parsing it: an "openapi" field, or an entry IsRemote
// accepts, which needs "://", "github.com" or an "@". YAML can spell a
// character only literally or through a backslash escape, so a file with
// none of these and no backslash holds neither. Most kustomizations are
// local and skip the parse, a good part of screening's cost.
func mayNeedScreening(data []byte) bool {
	lower := bytes.ToLower(data)
	for _, s := range []string{"openapi", "://", "github.com", "@", "\\"} {
		if bytes.Contains(lower, []byte(s)) {
			return true
		}
	}
	return false
}

// parseKustomization reads a kustomization file as kustomize would; a file
// it cannot parse is empty here, and kustomize reports it itself.
func parseKustomization(data []byte) *types.Kustomization {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return &types.Kustomization{}
	}
	k.FixKustomization()
	return &k
}

// remoteReference returns the first entry of a kustomization that kustomize
// would fetch over the network, or "".
func remoteReference(k *types.Kustomization) string {
	refs := append(append(append([]string{}, k.Resources...), k.Components...), k.Crds...)
	refs = append(refs, k.Configurations...)
	refs = append(refs, k.Generators...)
	refs = append(refs, k.Transformers...)
	refs = append(refs, k.Validators...)
	refs = append(refs, k.OpenAPI["path"])
	for _, p := range k.Patches {
		refs = append(refs, p.Path)
	}
	for _, p := range k.PatchesStrategicMerge {
		refs = append(refs, string(p))
	}
	for _, p := range k.PatchesJson6902 {
		refs = append(refs, p.Path)
	}
	for _, r := range k.Replacements {
		refs = append(refs, r.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		refs = append(refs, g.FileSources...)
		refs = append(refs, g.EnvSources...)
	}
	for _, g := range k.SecretGenerator {
		refs = append(refs, g.FileSources...)
		refs = append(refs, g.EnvSources...)
	}
	for _, r := range refs {
		if IsRemote(r) {
			return r
		}
	}
	return ""
}

// scpUser matches the "user@" that starts an scp-style git address.
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// IsRemote reports whether kustomize would load the entry over the
// network: an http(s) URL, or an address its git cloner accepts.
func IsRemote(entry string) bool {
	s := strings.TrimSpace(entry)
	if i := strings.IndexByte(s, '='); i > 0 && !strings.ContainsAny(s[:i], "/:?@") {
		// A generator source may be "key=path"; a key has no '/'.
		s = s[i+1:]
	}
	lower := strings.ToLower(s)
	lower = strings.TrimPrefix(lower, "git::")
	for _, scheme := range []string{"https://", "http://", "ssh://", "file://"} {
		if strings.HasPrefix(lower, scheme) {
			return true
		}
	}
	return strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:") || scpUser.MatchString(s)
}
