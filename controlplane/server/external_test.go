package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/controlplane/etcd/etcdtest"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
)

// A server on an external etcd cluster keeps its objects there, writes the
// extra kubeconfig with the requested mode, and compacts etcd's history
// periodically.
func TestExternalEtcdKubeconfigAndCompaction(t *testing.T) {
	member := etcdtest.Start(t)
	extra := filepath.Join(t.TempDir(), "admin.conf")
	s := servertest.Start(t, func(c *server.Config) {
		c.EtcdEndpoints = []string{member.ClientURL}
		c.WriteKubeconfig = extra
		c.KubeconfigMode = 0o640
		c.CompactionInterval = time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ext"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, err := member.Client.Get(ctx, "/registry/configmaps/default/ext")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the object is not in the external etcd: %v %+v", err, resp)
	}
	if _, err := os.Stat(filepath.Join(s.Server.Config().DataDir, "etcd")); !os.IsNotExist(err) {
		t.Fatalf("an embedded member was started too: %v", err)
	}

	st, err := os.Stat(extra)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("--write-kubeconfig file: %v mode %v", err, st.Mode())
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", extra)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("client from the extra kubeconfig: %v", err)
	}
	if st, err := os.Stat(s.KubeconfigPath()); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("data-dir kubeconfig: %v mode %v", err, st.Mode())
	}

	// Within a few intervals the history before the first write is gone.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := member.Client.Get(ctx, "/registry/configmaps/default/ext", clientv3WithRev(1))
		if err != nil && strings.Contains(err.Error(), "compacted") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision 1 still readable after 20 s of 1 s compactions: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
