// Package storage is skiff's object store over etcd: typed get, list, watch
// and compare-and-swap writes, with etcd's mod revision as each object's
// resourceVersion. Objects live under /registry/<resource>/<namespace>/<name>
// (cluster-scoped ones under /registry/<resource>/<name>). Only the
// apiserver uses this package; everything else goes through the API.
package storage

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Config configures the Store of one resource.
type Config struct {
	// Client is the etcd client (in-process for the embedded member).
	Client *clientv3.Client
	// Codec encodes objects for etcd and decodes them back.
	Codec runtime.Codec
	// Prefix is the resource's key prefix, ending in "/", for example
	// "/registry/pods/".
	Prefix string
	// NewFunc returns an empty object of the resource's type.
	NewFunc func() runtime.Object
	// NewListFunc returns an empty list of the resource's type.
	NewListFunc func() runtime.Object
	// Leases grants the etcd leases behind TTLs; required only when writes
	// ask for a TTL.
	Leases *LeaseManager
	// Observer, if set, is told how long each etcd call took.
	Observer func(operation string, seconds float64)
	// LatestCacheBytes bounds the values of recently updated keys the
	// store remembers so that the next update of such a key skips its
	// read (default 1 MiB; negative disables it). Writes stay
	// compare-and-swap on the key's mod revision, so a value changed
	// elsewhere costs a retry, never a lost update.
	LatestCacheBytes int
}

// Store reads and writes the objects of one resource in etcd.
type Store struct {
	cfg    Config
	latest *latestCache
}

// New returns a Store for the resource cfg describes.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil || cfg.Codec == nil || cfg.NewFunc == nil || cfg.NewListFunc == nil {
		return nil, errors.New("storage: client, codec, NewFunc and NewListFunc are required")
	}
	if !strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("storage: prefix %q must end in /", cfg.Prefix)
	}
	return &Store{cfg: cfg, latest: newLatestCache(cfg.LatestCacheBytes)}, nil
}

// Prefix returns the resource's key prefix.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// Key returns the key of a named object; namespace is empty for
// cluster-scoped resources.
func (s *Store) Key(namespace, name string) string {
	if namespace == "" {
		return s.cfg.Prefix + name
	}
	return s.cfg.Prefix + namespace + "/" + name
}

// NamespacePrefix returns the key prefix of a namespace's objects, or the
// resource's prefix when namespace is empty.
func (s *Store) NamespacePrefix(namespace string) string {
	if namespace == "" {
		return s.cfg.Prefix
	}
	return s.cfg.Prefix + namespace + "/"
}

// Extras are additional writes made atomically with an object's write.
type Extras struct {
	// Claims are keys that must not exist yet; they are created with their
	// values. A taken claim fails the write with a *ClaimError.
	Claims map[string]string
	// Releases are keys deleted in the same transaction.
	Releases []string
	// TTL, when positive on a create, makes the object expire after that
	// many seconds.
	TTL int64
	// Delete, on an update, removes the object instead of writing it (for
	// example when the last finalizer of a deleting object goes away).
	Delete bool
}

// Preconditions must hold on the stored object for a write to proceed.
type Preconditions struct {
	UID             *types.UID
	ResourceVersion *string
}

// Check returns a *PreconditionError when obj does not satisfy p.
func (p *Preconditions) Check(key string, obj runtime.Object) error {
	if p == nil {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", key, err)
	}
	if p.UID != nil && *p.UID != m.GetUID() {
		return &PreconditionError{Key: key, Field: "uid", Want: string(*p.UID), Got: string(m.GetUID())}
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return &PreconditionError{Key: key, Field: "resourceVersion", Want: *p.ResourceVersion, Got: m.GetResourceVersion()}
	}
	return nil
}

func (s *Store) observe(op string, start time.Time) {
	if s.cfg.Observer != nil {
		s.cfg.Observer(op, time.Since(start).Seconds())
	}
}

// encode serialises obj for etcd without its resourceVersion, which etcd
// itself keeps as the key's mod revision.
func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	data, err := runtime.Encode(s.cfg.Codec, obj)
	m.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return data, nil
}

// decode fills into from data and sets its resourceVersion to rev.
func (s *Store) decode(data []byte, rev int64, into runtime.Object) error {
	obj, _, err := s.cfg.Codec.Decode(data, nil, into)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if obj != into {
		return fmt.Errorf("decode: got %T, want %T", obj, into)
	}
	return setRV(into, rev)
}

func (s *Store) decodeNew(data []byte, rev int64) (runtime.Object, error) {
	obj := s.cfg.NewFunc()
	if err := s.decode(data, rev, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func setRV(obj runtime.Object, rev int64) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if rev == 0 {
		m.SetResourceVersion("")
	} else {
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
	return nil
}

// ParseResourceVersion parses a resourceVersion; "" parses as 0.
func ParseResourceVersion(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid resource version %q", rv)
	}
	return n, nil
}

// mapErr turns etcd's size and compaction errors into this package's.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrGRPCRequestTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	case errors.Is(err, rpctypes.ErrCompacted), errors.Is(err, rpctypes.ErrGRPCCompacted):
		return fmt.Errorf("%w: %v", ErrExpired, err)
	case errors.Is(err, rpctypes.ErrFutureRev), errors.Is(err, rpctypes.ErrGRPCFutureRev):
		return fmt.Errorf("%w: %v", ErrFutureRevision, err)
	}
	if st, ok := status.FromError(err); ok {
		switch {
		case st.Code() == codes.InvalidArgument && strings.Contains(st.Message(), "request is too large"):
			return fmt.Errorf("%w: %v", ErrTooLarge, err)
		case st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max"):
			return fmt.Errorf("%w: %v", ErrTooLarge, err)
		case st.Code() == codes.OutOfRange && strings.Contains(st.Message(), "compacted"):
			return fmt.Errorf("%w: %v", ErrExpired, err)
		}
	}
	return err
}
