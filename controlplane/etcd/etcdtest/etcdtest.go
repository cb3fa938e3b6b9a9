// Package etcdtest starts embedded etcd members for tests.
package etcdtest

import (
	"context"
	"testing"

	"skiff.dev/skiff/controlplane/etcd"
	"skiff.dev/skiff/internal/testenv"
)

// Start starts an embedded member in a temporary directory on free
// ports for a test and stops it when the test ends.
func Start(tb testing.TB) *etcd.Embedded {
	tb.Helper()
	ports := testenv.FreePorts(tb, 2)
	e, err := etcd.StartEmbedded(context.Background(), etcd.EmbeddedConfig{
		Name: "test", DataDir: tb.TempDir(), ClientPort: ports[0], PeerPort: ports[1], LogLevel: "fatal",
	})
	if err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	tb.Cleanup(e.Close)
	return e
}
