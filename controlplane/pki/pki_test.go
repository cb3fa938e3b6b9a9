package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", filepath.Base(path), got, want)
	}
}

// assertNoTempFiles checks that atomic writes left nothing behind in dir.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

func newCA(t *testing.T) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tls")
	ca, err := EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ca, dir
}

func TestEnsureCACreatesAndReuses(t *testing.T) {
	ca, dir := newCA(t)
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	assertMode(t, certPath, 0o644)
	assertMode(t, keyPath, 0o600)
	assertMode(t, dir, 0o700)
	assertNoTempFiles(t, dir)

	c := readCert(t, certPath)
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA=%v valid=%v maxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("CA certificate cannot sign certificates")
	}
	if len(c.SubjectKeyId) == 0 {
		t.Error("CA certificate has no SubjectKeyId")
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", c.PublicKey)
	}
	if life := c.NotAfter.Sub(time.Now()); life < 9*365*24*time.Hour || life > 10*365*24*time.Hour {
		t.Errorf("CA valid for %v, want about ten years", life)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}

	certBefore, keyBefore := readFile(t, certPath), readFile(t, keyPath)
	again, err := EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, certPath), certBefore) || !bytes.Equal(readFile(t, keyPath), keyBefore) {
		t.Error("restart rewrote the CA files")
	}
	if !again.Cert.Equal(ca.Cert) || !bytes.Equal(again.CertPEM, certBefore) {
		t.Error("restart loaded a different CA")
	}
}

func TestEnsureCAInterruptedFirstStart(t *testing.T) {
	_, dir := newCA(t)
	keyBefore := readFile(t, filepath.Join(dir, "ca.key"))
	if err := os.Remove(filepath.Join(dir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	ca, err := EnsureCA(dir)
	if err != nil {
		t.Fatalf("key without certificate: %v", err)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, "ca.key")), keyBefore) {
		t.Error("CA key replaced")
	}
	if !keyMatches(ca.Cert, ca.Key) {
		t.Error("new CA certificate does not match the kept key")
	}

	if err := os.Remove(filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureCA(dir); err == nil {
		t.Error("certificate without key: want an error")
	}
}

func TestServingCert(t *testing.T) {
	ca, dir := newCA(t)
	certPath, keyPath := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	hosts := []string{"node-1", "10.0.0.5", "127.0.0.1", "::1", "localhost", "kubernetes.default.svc", "10.43.0.1"}
	if err := ca.EnsureServingCert(certPath, keyPath, hosts); err != nil {
		t.Fatal(err)
	}
	assertMode(t, certPath, 0o644)
	assertMode(t, keyPath, 0o600)
	assertNoTempFiles(t, dir)
	c := readCert(t, certPath)
	for _, h := range hosts {
		if _, err := c.Verify(x509.VerifyOptions{Roots: ca.CertPool(), DNSName: h, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", h, err)
		}
	}
	if err := c.VerifyHostname("example.com"); err == nil {
		t.Error("serving certificate valid for a host it was not asked for")
	}

	certBefore, keyBefore := readFile(t, certPath), readFile(t, keyPath)
	if err := ca.EnsureServingCert(certPath, keyPath, hosts[:3]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, certPath), certBefore) || !bytes.Equal(readFile(t, keyPath), keyBefore) {
		t.Error("certificate covering the hosts was reissued")
	}

	// A new node address must be added, keeping the key.
	if err := ca.EnsureServingCert(certPath, keyPath, append(hosts, "192.168.7.7")); err != nil {
		t.Fatal(err)
	}
	c2 := readCert(t, certPath)
	if err := c2.VerifyHostname("192.168.7.7"); err != nil {
		t.Errorf("missing SAN not added: %v", err)
	}
	if !bytes.Equal(readFile(t, keyPath), keyBefore) {
		t.Error("reissue replaced the key")
	}
}

func TestServingCertReissuedForOtherCAOrExpiry(t *testing.T) {
	ca, dir := newCA(t)
	certPath, keyPath := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	hosts := []string{"localhost"}

	other, _ := newCA(t)
	if err := other.EnsureServingCert(certPath, keyPath, hosts); err != nil {
		t.Fatal(err)
	}
	if err := ca.EnsureServingCert(certPath, keyPath, hosts); err != nil {
		t.Fatal(err)
	}
	if err := readCert(t, certPath).CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("certificate of another CA kept: %v", err)
	}

	// Issue a certificate that expires in ten days and check it is renewed.
	key, err := ensureKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "skiff-apiserver"},
		DNSNames:    hosts,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := ca.issue(tmpl, key.Public(), time.Now(), 10*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(certPath, encodeCertPEM(der), certMode); err != nil {
		t.Fatal(err)
	}
	if err := ca.EnsureServingCert(certPath, keyPath, hosts); err != nil {
		t.Fatal(err)
	}
	if left := time.Until(readCert(t, certPath).NotAfter); left < 300*24*time.Hour {
		t.Errorf("certificate expiring soon not renewed: %v left", left)
	}
}

func TestServingCertRejectsBadHost(t *testing.T) {
	ca, dir := newCA(t)
	err := ca.EnsureServingCert(filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"), []string{"https://x"})
	if err == nil {
		t.Error("want an error for a URL as host")
	}
}

func TestClientCert(t *testing.T) {
	ca, dir := newCA(t)
	certPath, keyPath := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	if err := ca.EnsureClientCert(certPath, keyPath, "admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	c := readCert(t, certPath)
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify for client auth: %v", err)
	}
	if c.Subject.CommonName != "admin" || !slices.Equal(c.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("subject %v, want CN=admin O=system:masters", c.Subject)
	}
	assertMode(t, keyPath, 0o600)

	before := readFile(t, certPath)
	if err := ca.EnsureClientCert(certPath, keyPath, "admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, certPath), before) {
		t.Error("unchanged client certificate reissued")
	}

	if err := ca.EnsureClientCert(certPath, keyPath, "admin", []string{"system:masters", "ops"}); err != nil {
		t.Fatal(err)
	}
	// DER sorts the values of a SET, so only membership matters.
	if got := readCert(t, certPath).Subject.Organization; !sameSet(got, []string{"system:masters", "ops"}) {
		t.Errorf("organizations %v after change, want system:masters and ops", got)
	}
	if err := ca.EnsureClientCert(certPath, keyPath, "root", []string{"system:masters", "ops"}); err != nil {
		t.Fatal(err)
	}
	if got := readCert(t, certPath).Subject.CommonName; got != "root" {
		t.Errorf("common name %q after change, want root", got)
	}
}

func TestEnsureToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "token")
	tok, err := EnsureToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := hex.DecodeString(tok); err != nil || len(b) != 32 {
		t.Errorf("token %q is not 32 bytes of hex", tok)
	}
	assertMode(t, path, 0o600)
	again, err := EnsureToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if again != tok {
		t.Error("restart made a new token")
	}
	other, err := EnsureToken(filepath.Join(t.TempDir(), "token"))
	if err != nil {
		t.Fatal(err)
	}
	if other == tok {
		t.Error("two token files hold the same token")
	}
}

func TestCAHash(t *testing.T) {
	ca, _ := newCA(t)
	sum := sha256.Sum256(ca.Cert.Raw)
	got, err := CAHash(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("CAHash = %s, want %s", got, want)
	}
	if _, err := CAHash([]byte("not a certificate")); err == nil {
		t.Error("CAHash of garbage: want an error")
	}
}

func TestWriteKubeconfig(t *testing.T) {
	ca, _ := newCA(t)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := KubeconfigSpec{Server: "https://127.0.0.1:6443", CAPEM: ca.CertPEM, Token: "secret"}
	if err := WriteKubeconfig(path, spec); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	assertNoTempFiles(t, filepath.Dir(path))
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if cfg.CurrentContext != "skiff" || ctx == nil {
		t.Fatalf("current context %q missing", cfg.CurrentContext)
	}
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil {
		t.Fatalf("context refers to missing cluster %q or user %q", ctx.Cluster, ctx.AuthInfo)
	}
	if cluster.Server != spec.Server || !bytes.Equal(cluster.CertificateAuthorityData, ca.CertPEM) || user.Token != "secret" {
		t.Errorf("kubeconfig has server %q, CA %d bytes, token %q", cluster.Server, len(cluster.CertificateAuthorityData), user.Token)
	}

	for name, bad := range map[string]KubeconfigSpec{
		"no server":        {CAPEM: ca.CertPEM, Token: "x"},
		"no credentials":   {Server: spec.Server, CAPEM: ca.CertPEM},
		"cert without key": {Server: spec.Server, CAPEM: ca.CertPEM, ClientCertPEM: ca.CertPEM},
	} {
		if err := WriteKubeconfig(path, bad); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestDefaultServingHosts(t *testing.T) {
	hosts, err := DefaultServingHosts(net.ParseIP("10.43.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{strings.ToLower(hostname), "127.0.0.1", "::1", "localhost", "kubernetes",
		"kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.43.0.1"} {
		if !slices.Contains(hosts, want) {
			t.Errorf("%v lacks %s", hosts, want)
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip := a.(*net.IPNet).IP; !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !slices.Contains(hosts, ip.String()) {
			t.Errorf("%v lacks interface address %s", hosts, ip)
		}
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h] {
			t.Errorf("%s listed twice", h)
		}
		seen[h] = true
	}
}
