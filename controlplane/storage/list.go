package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ListOptions selects what List returns.
type ListOptions struct {
	// ResourceVersion and Match follow the Kubernetes list semantics:
	// "" or "0" read the latest state; N with Match Exact reads at N; N
	// otherwise reads a state at least as new as N.
	ResourceVersion string
	Match           metav1.ResourceVersionMatch
	// Limit caps the items returned; Continue resumes a limited list.
	Limit    int64
	Continue string
	// Predicate filters the items.
	Predicate Predicate
}

// maxFetch bounds one etcd range read while filling a page.
const maxFetch = 10000

// List fills listObj with the objects under prefix that match opts, read
// consistently at one revision, and sets its resourceVersion, continue token
// and remaining item count.
func (s *Store) List(ctx context.Context, prefix string, opts ListOptions, listObj runtime.Object) error {
	listMeta, err := meta.ListAccessor(listObj)
	if err != nil {
		return err
	}
	start, rev, err := s.listStart(prefix, opts)
	if err != nil {
		return err
	}
	minRev, err := ParseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return err
	}
	end := clientv3.GetPrefixRangeEnd(prefix)

	var items []runtime.Object
	fetch := opts.Limit
	if fetch <= 0 || fetch > maxFetch {
		fetch = maxFetch
	}
	var lastKey string
	var more bool
	var remaining int64
	for {
		readOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(fetch)}
		if rev > 0 {
			readOpts = append(readOpts, clientv3.WithRev(rev))
		}
		t := time.Now()
		resp, err := s.cfg.Client.Get(ctx, start, readOpts...)
		s.observe("list", t)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, mapErr(err))
		}
		if rev == 0 {
			rev = resp.Header.Revision
			if minRev > rev {
				return fmt.Errorf("list %s at %d (current %d): %w", prefix, minRev, rev, ErrFutureRevision)
			}
		}
		more = resp.More
		remaining = resp.Count - int64(len(resp.Kvs))
		for i, kv := range resp.Kvs {
			obj, err := s.decodeNew(kv.Value, kv.ModRevision)
			if err != nil {
				return fmt.Errorf("list %s: %s: %w", prefix, kv.Key, err)
			}
			lastKey = string(kv.Key)
			if !opts.Predicate.Matches(obj) {
				continue
			}
			items = append(items, obj)
			if opts.Limit > 0 && int64(len(items)) == opts.Limit {
				if i < len(resp.Kvs)-1 {
					more = true
					remaining += int64(len(resp.Kvs) - 1 - i)
				}
				goto done
			}
		}
		if !more {
			break
		}
		start = lastKey + "\x00"
		if fetch < maxFetch {
			fetch *= 2
			if fetch > maxFetch {
				fetch = maxFetch
			}
		}
	}
done:
	if err := meta.SetList(listObj, items); err != nil {
		return err
	}
	listMeta.SetResourceVersion(fmt.Sprint(rev))
	listMeta.SetContinue("")
	listMeta.SetRemainingItemCount(nil)
	if more && opts.Limit > 0 {
		tok, err := encodeContinue(lastKey+"\x00", prefix, rev)
		if err != nil {
			return err
		}
		listMeta.SetContinue(tok)
		if opts.Predicate.Empty() {
			listMeta.SetRemainingItemCount(&remaining)
		}
	}
	return nil
}

// listStart returns the first key to read and the revision to read at (0:
// the latest).
func (s *Store) listStart(prefix string, opts ListOptions) (string, int64, error) {
	if opts.Continue != "" {
		return decodeContinue(opts.Continue, prefix)
	}
	if opts.Match == metav1.ResourceVersionMatchExact {
		rev, err := ParseResourceVersion(opts.ResourceVersion)
		if err != nil {
			return "", 0, err
		}
		return prefix, rev, nil
	}
	return prefix, 0, nil
}

type continueToken struct {
	APIVersion string `json:"v"`
	Revision   int64  `json:"rv"`
	StartKey   string `json:"start"`
}

// encodeContinue makes an opaque token that resumes a list at key (relative
// to prefix) and revision, the format the Kubernetes apiserver uses.
func encodeContinue(key, prefix string, rev int64) (string, error) {
	out, err := json.Marshal(&continueToken{APIVersion: "meta.k8s.io/v1", Revision: rev, StartKey: strings.TrimPrefix(key, prefix)})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(out), nil
}

func decodeContinue(tok, prefix string) (string, int64, error) {
	data, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrInvalidContinue, err)
	}
	var c continueToken
	if err := json.Unmarshal(data, &c); err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrInvalidContinue, err)
	}
	if c.APIVersion != "meta.k8s.io/v1" {
		return "", 0, fmt.Errorf("%w: unknown version %q", ErrInvalidContinue, c.APIVersion)
	}
	if c.Revision <= 0 || strings.Contains(c.StartKey, "..") || strings.HasPrefix(c.StartKey, "/") {
		return "", 0, fmt.Errorf("%w: bad start key or revision", ErrInvalidContinue)
	}
	return prefix + c.StartKey, c.Revision, nil
}
