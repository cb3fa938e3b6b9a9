package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
)

// Create writes obj under key if the key does not exist, together with
// extras, and fills out with the stored object and its resourceVersion.
func (s *Store) Create(ctx context.Context, key string, obj, out runtime.Object, extras *Extras) error {
	data, err := s.encode(obj)
	if err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	var putOpts []clientv3.OpOption
	if extras != nil && extras.TTL > 0 {
		if s.cfg.Leases == nil {
			return fmt.Errorf("create %s: TTL requested but the store has no lease manager", key)
		}
		id, err := s.cfg.Leases.Lease(ctx, extras.TTL)
		if err != nil {
			return fmt.Errorf("create %s: %w", key, err)
		}
		putOpts = append(putOpts, clientv3.WithLease(id))
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}
	ops := []clientv3.Op{clientv3.OpPut(key, string(data), putOpts...)}
	cmps, ops, claims := extras.apply(cmps, ops)

	start := time.Now()
	resp, err := s.cfg.Client.Txn(ctx).If(cmps...).Then(ops...).Else(claimChecks(key, claims)...).Commit()
	s.observe("create", start)
	if err != nil {
		return fmt.Errorf("create %s: %w", key, mapErr(err))
	}
	if !resp.Succeeded {
		if keyExists(resp, 0) {
			return fmt.Errorf("create %s: %w", key, ErrExists)
		}
		return takenClaim(resp, 1, claims)
	}
	if out != obj {
		if err := s.decode(data, 0, out); err != nil {
			return fmt.Errorf("create %s: %w", key, err)
		}
	}
	return setRV(out, resp.Header.Revision)
}

// apply adds the claim and release operations of e to a transaction and
// returns the sorted claim keys (nil-safe).
func (e *Extras) apply(cmps []clientv3.Cmp, ops []clientv3.Op) ([]clientv3.Cmp, []clientv3.Op, []string) {
	if e == nil {
		return cmps, ops, nil
	}
	claims := make([]string, 0, len(e.Claims))
	for k := range e.Claims {
		claims = append(claims, k)
	}
	sort.Strings(claims)
	for _, k := range claims {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		ops = append(ops, clientv3.OpPut(k, e.Claims[k]))
	}
	for _, k := range e.Releases {
		ops = append(ops, clientv3.OpDelete(k))
	}
	return cmps, ops, claims
}

// claimChecks reads the object key and every claim key in a transaction's
// else branch, so that a failed write can say what was in the way.
func claimChecks(key string, claims []string) []clientv3.Op {
	ops := make([]clientv3.Op, 0, 1+len(claims))
	ops = append(ops, clientv3.OpGet(key))
	for _, k := range claims {
		ops = append(ops, clientv3.OpGet(k, clientv3.WithCountOnly()))
	}
	return ops
}

func keyExists(resp *clientv3.TxnResponse, i int) bool {
	r := resp.Responses[i].GetResponseRange()
	return r != nil && len(r.Kvs) > 0
}

// takenClaim finds the first claim key that exists in a failed transaction's
// else responses, which start at index first.
func takenClaim(resp *clientv3.TxnResponse, first int, claims []string) error {
	for i, k := range claims {
		if r := resp.Responses[first+i].GetResponseRange(); r != nil && r.Count > 0 {
			return &ClaimError{Key: k}
		}
	}
	return fmt.Errorf("storage: transaction failed but nothing was in the way (claims %v)", claims)
}

// Get fills out with the object stored under key, or returns ErrNotFound.
func (s *Store) Get(ctx context.Context, key string, out runtime.Object) error {
	start := time.Now()
	resp, err := s.cfg.Client.Get(ctx, key)
	s.observe("get", start)
	if err != nil {
		return fmt.Errorf("get %s: %w", key, mapErr(err))
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	kv := resp.Kvs[0]
	if err := s.decode(kv.Value, kv.ModRevision, out); err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	return nil
}

// UpdateFunc computes the new state of an object from its current state.
// current is an empty object with no resourceVersion when the key does not
// exist and the caller allowed that. It must not modify current. Returning
// a nil object with nil error and no extras means "nothing to do".
type UpdateFunc func(current runtime.Object) (updated runtime.Object, extras *Extras, err error)

// GuaranteedUpdate applies tryUpdate to the current object and writes the
// result with a compare-and-swap on the key's mod revision, retrying with
// the fresh state when another writer got there first. Preconditions are
// checked against every state tried. With ignoreNotFound, a missing key is
// handed to tryUpdate as an empty object and the result is created. out
// receives the stored result (or the deleted object with Extras.Delete).
//
// When the store remembers the key's latest state from an earlier update,
// it tries that state without reading the key; every outcome other than a
// successful write (a failed precondition, an error from tryUpdate, a write
// that changes nothing) is then decided again on a fresh read.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool, pre *Preconditions, tryUpdate UpdateFunc) error {
	cur := s.latest.get(key)
	guessed := cur != nil
	if !guessed {
		var err error
		if cur, err = s.readState(ctx, key); err != nil {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("update %s: %w", key, err)
		}
		next, done, err := s.tryState(ctx, key, cur, guessed, out, ignoreNotFound, pre, tryUpdate)
		switch {
		case errors.Is(err, errUnverified):
			if cur, err = s.readState(ctx, key); err != nil {
				return err
			}
		case err != nil || done:
			return err
		default:
			cur = next
		}
		guessed = false
	}
}

// errUnverified says that an outcome reached from a remembered state must
// be decided again on a fresh read.
var errUnverified = errors.New("storage: remembered state needs a fresh read")

// readState reads the current state of key (nil: absent) and remembers it
// for the next update.
func (s *Store) readState(ctx context.Context, key string) (*kvState, error) {
	start := time.Now()
	resp, err := s.cfg.Client.Get(ctx, key)
	s.observe("get", start)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", key, mapErr(err))
	}
	var cur *kvState
	if len(resp.Kvs) > 0 {
		cur = &kvState{data: resp.Kvs[0].Value, rev: resp.Kvs[0].ModRevision}
	}
	s.latest.put(key, cur)
	return cur, nil
}

// tryState is one attempt of GuaranteedUpdate from the state cur, which
// was remembered rather than read when guessed. It returns done when the
// update finished, or the newer state to try after a lost race.
func (s *Store) tryState(ctx context.Context, key string, cur *kvState, guessed bool, out runtime.Object, ignoreNotFound bool, pre *Preconditions, tryUpdate UpdateFunc) (*kvState, bool, error) {
	current := s.cfg.NewFunc()
	if cur == nil {
		if !ignoreNotFound {
			return nil, false, fmt.Errorf("update %s: %w", key, ErrNotFound)
		}
	} else if err := s.decode(cur.data, cur.rev, current); err != nil {
		return nil, false, fmt.Errorf("update %s: %w", key, err)
	}
	if cur != nil {
		if err := pre.Check(key, current); err != nil {
			return nil, false, unverified(guessed, err)
		}
	}
	updated, extras, err := tryUpdate(current)
	if err != nil {
		return nil, false, unverified(guessed, err)
	}
	if updated == nil && extras == nil {
		if guessed {
			return nil, false, errUnverified
		}
		if cur == nil {
			return nil, false, fmt.Errorf("update %s: %w", key, ErrNotFound)
		}
		return nil, true, s.decode(cur.data, cur.rev, out)
	}
	return s.casWrite(ctx, key, cur, guessed, updated, extras, out)
}

// unverified returns errUnverified for an outcome reached from a
// remembered state, and err otherwise.
func unverified(guessed bool, err error) error {
	if guessed {
		return errUnverified
	}
	return err
}

type kvState struct {
	data []byte
	rev  int64
}

// casWrite writes updated over the state cur (nil: absent), which was
// remembered rather than read when guessed. On success it fills out and
// returns done; on a lost race it returns the newer state.
func (s *Store) casWrite(ctx context.Context, key string, cur *kvState, guessed bool, updated runtime.Object, extras *Extras, out runtime.Object) (*kvState, bool, error) {
	var cmp clientv3.Cmp
	if cur == nil {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	} else {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", cur.rev)
	}
	var op clientv3.Op
	var data []byte
	deleting := extras != nil && extras.Delete
	if deleting {
		if cur == nil {
			return nil, false, fmt.Errorf("update %s: %w", key, ErrNotFound)
		}
		op = clientv3.OpDelete(key)
	} else {
		var err error
		if data, err = s.encode(updated); err != nil {
			return nil, false, fmt.Errorf("update %s: %w", key, err)
		}
		if cur != nil && string(data) == string(cur.data) && extras == nil {
			if guessed {
				return nil, false, errUnverified
			}
			// No change: answer with the stored object, write nothing.
			return nil, true, s.decode(cur.data, cur.rev, out)
		}
		op = clientv3.OpPut(key, string(data))
	}
	cmps, ops, claims := extras.apply([]clientv3.Cmp{cmp}, []clientv3.Op{op})
	start := time.Now()
	resp, err := s.cfg.Client.Txn(ctx).If(cmps...).Then(ops...).Else(claimChecks(key, claims)...).Commit()
	s.observe("update", start)
	if err != nil {
		return nil, false, fmt.Errorf("update %s: %w", key, mapErr(err))
	}
	if !resp.Succeeded {
		r := resp.Responses[0].GetResponseRange()
		var now *kvState
		if len(r.Kvs) > 0 {
			now = &kvState{data: r.Kvs[0].Value, rev: r.Kvs[0].ModRevision}
		}
		raced := (cur == nil) != (now == nil) || (cur != nil && now.rev != cur.rev)
		if raced {
			s.latest.put(key, now)
			return now, false, nil
		}
		return nil, false, fmt.Errorf("update %s: %w", key, takenClaim(resp, 1, claims))
	}
	if deleting {
		s.latest.put(key, nil)
		if err := s.decode(cur.data, 0, out); err != nil {
			return nil, false, err
		}
		return nil, true, setRV(out, resp.Header.Revision)
	}
	s.latest.put(key, &kvState{data: data, rev: resp.Header.Revision})
	if out != updated {
		if err := s.decode(data, 0, out); err != nil {
			return nil, false, err
		}
	}
	return nil, true, setRV(out, resp.Header.Revision)
}

// DeleteFunc inspects the object about to be deleted; it may veto the
// delete with an error or return extras (releases) to apply with it.
type DeleteFunc func(current runtime.Object) (*Extras, error)

// Delete removes the object under key if the preconditions hold and check
// allows it, retrying when the object changes underneath. out receives the
// deleted object, with the revision of its deletion as resourceVersion.
func (s *Store) Delete(ctx context.Context, key string, out runtime.Object, pre *Preconditions, check DeleteFunc) error {
	return s.GuaranteedUpdate(ctx, key, out, false, pre, func(current runtime.Object) (runtime.Object, *Extras, error) {
		extras := &Extras{}
		if check != nil {
			e, err := check(current)
			if err != nil {
				return nil, nil, err
			}
			if e != nil {
				extras = e
			}
		}
		extras.Delete = true
		return current, extras, nil
	})
}

// Count returns how many keys lie under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.cfg.Client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", prefix, mapErr(err))
	}
	return resp.Count, nil
}

// Revision returns the store's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	resp, err := s.cfg.Client.Get(ctx, s.cfg.Prefix, clientv3.WithCountOnly(), clientv3.WithPrefix(), clientv3.WithLimit(1))
	if err != nil {
		return 0, fmt.Errorf("revision: %w", mapErr(err))
	}
	return resp.Header.Revision, nil
}
