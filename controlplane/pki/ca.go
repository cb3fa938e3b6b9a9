// Package pki bootstraps the control plane's TLS material on first start
// and reuses it on restart: a certificate authority, serving and client
// certificates signed by it, static bearer tokens and kubeconfig files.
// Every file is written atomically; keys and tokens are mode 0600.
package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how long before expiry a leaf certificate is reissued.
	renewBefore = 30 * 24 * time.Hour
	// clockSkew backdates NotBefore so that hosts with slightly different
	// clocks accept a certificate issued a moment ago.
	clockSkew = time.Hour
)

// CA is a certificate authority that signs the cluster's certificates.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// CertPEM is Cert as stored in ca.crt, for kubeconfigs and join tokens.
	CertPEM []byte
	// Key signs the certificates the CA issues.
	Key crypto.Signer
}

// EnsureCA loads the CA from dir/ca.crt and dir/ca.key, or creates an
// ECDSA P-256 CA valid for ten years if neither exists. A key left without
// its certificate by an interrupted first start gets a new certificate; a
// certificate without its key is an error, because certificates it signed
// could no longer be reissued.
func EnsureCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, "ca.crt")
	keyPath := filepath.Join(dir, "ca.key")
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	certPEM, err := readOptional(certPath)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	if certPEM != nil {
		return loadCA(certPEM, certPath, keyPath)
	}
	key, err := ensureKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: fmt.Sprintf("skiff-ca@%d", now.Unix())},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	// The template is its own parent; x509 derives SubjectKeyId from the key.
	der, err := createCert(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	certPEM = encodeCertPEM(der)
	if err := writeFileAtomic(certPath, certPEM, certMode); err != nil {
		return nil, err
	}
	return loadCA(certPEM, certPath, keyPath)
}

func loadCA(certPEM []byte, certPath, keyPath string) (*CA, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", certPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certPath)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", keyPath, err)
	}
	if !keyMatches(cert, key) {
		return nil, fmt.Errorf("%s does not match %s", keyPath, certPath)
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

// CertPool returns a pool holding only the CA certificate, for verifying
// peers the CA signed.
func (ca *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// TLSServerConfig returns a server configuration presenting the key pair at
// certPath and keyPath. It requests client certificates issued by the CA but
// does not verify them during the handshake: the authenticator verifies the
// chain, so a bad certificate gets an HTTP 401 rather than a failed
// handshake, as with kube-apiserver.
func (ca *CA) TLSServerConfig(certPath, keyPath string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load serving certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequestClientCert,
		ClientCAs:    ca.CertPool(),
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// issue signs a certificate for pub from tmpl, valid from now for validity,
// with a random serial number.
func (ca *CA) issue(tmpl *x509.Certificate, pub crypto.PublicKey, now time.Time, validity time.Duration) ([]byte, error) {
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	return createCert(tmpl, ca.Cert, pub, ca.Key)
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}
