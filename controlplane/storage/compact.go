package storage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// compactRevKey records the last compaction so that several apiservers
// sharing one etcd compact once per interval between them (the Kubernetes
// scheme).
const compactRevKey = "/registry/compact_rev_key"

// Maintainer compacts etcd's history and defragments its database so that
// the backend quota never turns the store read-only.
type Maintainer struct {
	Client *clientv3.Client
	// Endpoints are defragmented one by one; empty disables defragmenting.
	Endpoints []string
	// Interval between compactions; history older than one interval goes.
	Interval time.Duration
	// DefragThreshold: defragment when this many bytes are free in the
	// database file and they are at least half of it.
	DefragThreshold int64
	Logger          *slog.Logger
}

// Start runs maintenance every Interval until ctx is done.
func (m *Maintainer) Start(ctx context.Context) error {
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	var version, rev int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var err error
		if version, rev, err = Compact(ctx, m.Client, version, rev); err != nil {
			m.Logger.Warn("etcd compaction failed", "err", err)
		}
		m.defragment(ctx)
	}
}

// Compact compacts to rev, the revision seen one interval ago, if no other
// apiserver compacted since version; it returns the compact key's version
// and the current revision for the next round.
func Compact(ctx context.Context, c *clientv3.Client, version, rev int64) (int64, int64, error) {
	resp, err := c.Txn(ctx).If(
		clientv3.Compare(clientv3.Version(compactRevKey), "=", version),
	).Then(
		clientv3.OpPut(compactRevKey, fmt.Sprint(rev)),
	).Else(
		clientv3.OpGet(compactRevKey),
	).Commit()
	if err != nil {
		return version, rev, fmt.Errorf("compact: %w", mapErr(err))
	}
	cur := resp.Header.Revision
	if !resp.Succeeded {
		// Another apiserver compacted; follow its version.
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) > 0 {
			return kvs[0].Version, cur, nil
		}
		return 0, cur, nil
	}
	if rev > 0 {
		if _, err := c.Compact(ctx, rev); err != nil {
			return version + 1, cur, fmt.Errorf("compact to %d: %w", rev, mapErr(err))
		}
	}
	return version + 1, cur, nil
}

func (m *Maintainer) defragment(ctx context.Context) {
	for _, ep := range m.Endpoints {
		st, err := m.Client.Status(ctx, ep)
		if err != nil {
			m.Logger.Warn("etcd status failed", "endpoint", ep, "err", err)
			continue
		}
		free := st.DbSize - st.DbSizeInUse
		if free < m.DefragThreshold || free < st.DbSize/2 {
			continue
		}
		start := time.Now()
		if _, err := m.Client.Defragment(ctx, ep); err != nil {
			m.Logger.Warn("etcd defragment failed", "endpoint", ep, "err", err)
			continue
		}
		m.Logger.Info("etcd defragmented", "endpoint", ep, "freed", free, "took", time.Since(start))
	}
}
