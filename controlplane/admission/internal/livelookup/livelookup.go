// Package livelookup caches live lists of one namespace's objects for
// the admission plugins whose informer cache may lag behind a write made a
// moment ago: when the cache holds none, the plugin lists from the API,
// at most once per namespace and TTL, one call shared by concurrent
// requests, as Kubernetes' LimitRanger and ResourceQuota do.
package livelookup

import (
	"context"
	"time"

	"golang.org/x/sync/singleflight"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
)

// DefaultTTL is how long a live list stands in for the cache.
const DefaultTTL = 30 * time.Second

// maxNamespaces bounds the namespaces remembered.
const maxNamespaces = 10000

// Cache remembers live lists of T by namespace.
type Cache[T any] struct {
	ttl   time.Duration
	lists *utilcache.LRUExpireCache
	group singleflight.Group
}

// New returns a cache whose lists stand for ttl.
func New[T any](ttl time.Duration) *Cache[T] {
	return &Cache[T]{ttl: ttl, lists: utilcache.NewLRUExpireCache(maxNamespaces)}
}

// List returns the remembered list of namespace, or calls list, remembers
// and returns its result.
func (c *Cache[T]) List(ctx context.Context, namespace string, list func(ctx context.Context) ([]T, error)) ([]T, error) {
	if items, ok := c.lists.Get(namespace); ok {
		return items.([]T), nil
	}
	items, err, _ := c.group.Do(namespace, func() (any, error) {
		items, err := list(ctx)
		if err != nil {
			return nil, err
		}
		c.lists.Add(namespace, items, c.ttl)
		return items, nil
	})
	if err != nil {
		return nil, err
	}
	return items.([]T), nil
}
