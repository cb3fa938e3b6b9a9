package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// leafSpec is what a leaf certificate must state.
type leafSpec struct {
	subject  pkix.Name
	dnsNames []string
	ips      []net.IP
	usage    x509.ExtKeyUsage
}

// EnsureServingCert makes certPath and keyPath hold a TLS server
// certificate signed by ca whose subject alternative names include every
// entry of hosts (IP addresses and DNS names). An existing certificate is
// kept unless it lacks one of hosts, was not signed by ca, does not match
// the key or expires within 30 days; a reissued certificate reuses the key.
func (ca *CA) EnsureServingCert(certPath, keyPath string, hosts []string) error {
	spec := leafSpec{subject: pkix.Name{CommonName: "skiff-apiserver"}, usage: x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			spec.ips = append(spec.ips, ip)
			continue
		}
		if h == "" || strings.ContainsAny(h, " /:") {
			return fmt.Errorf("serving certificate: invalid host %q", h)
		}
		spec.dnsNames = append(spec.dnsNames, strings.ToLower(h))
	}
	if err := ca.ensureLeaf(certPath, keyPath, spec, time.Now()); err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	return nil
}

// EnsureClientCert makes certPath and keyPath hold a TLS client certificate
// signed by ca for the user commonName in the groups organizations. It is
// reissued, reusing the key, if the name or groups differ, it was not
// signed by ca or it expires within 30 days.
func (ca *CA) EnsureClientCert(certPath, keyPath, commonName string, organizations []string) error {
	if commonName == "" {
		return fmt.Errorf("client certificate %s: empty common name", certPath)
	}
	spec := leafSpec{
		subject: pkix.Name{CommonName: commonName, Organization: slices.Clone(organizations)},
		usage:   x509.ExtKeyUsageClientAuth,
	}
	if err := ca.ensureLeaf(certPath, keyPath, spec, time.Now()); err != nil {
		return fmt.Errorf("client certificate %s: %w", commonName, err)
	}
	return nil
}

func (ca *CA) ensureLeaf(certPath, keyPath string, spec leafSpec, now time.Time) error {
	key, err := ensureKey(keyPath)
	if err != nil {
		return err
	}
	certPEM, err := readOptional(certPath)
	if err != nil {
		return fmt.Errorf("read certificate: %w", err)
	}
	if certPEM != nil {
		// An unparsable certificate is reissued below like an outdated one.
		cert, err := parseCertPEM(certPEM)
		if err == nil && keyMatches(cert, key) && ca.current(cert, now) && spec.satisfiedBy(cert) {
			return nil
		}
	}
	tmpl := &x509.Certificate{
		Subject:               spec.subject,
		DNSNames:              spec.dnsNames,
		IPAddresses:           spec.ips,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{spec.usage},
		BasicConstraintsValid: true,
	}
	der, err := ca.issue(tmpl, key.Public(), now, leafValidity)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(certPath), dirMode); err != nil {
		return fmt.Errorf("create certificate directory: %w", err)
	}
	return writeFileAtomic(certPath, encodeCertPEM(der), certMode)
}

// current reports whether cert was signed by ca and stays valid for longer
// than renewBefore.
func (ca *CA) current(cert *x509.Certificate, now time.Time) bool {
	return cert.CheckSignatureFrom(ca.Cert) == nil &&
		!now.Before(cert.NotBefore) &&
		now.Add(renewBefore).Before(cert.NotAfter)
}

// satisfiedBy reports whether cert has the spec's subject, key usage and at
// least its subject alternative names.
func (s leafSpec) satisfiedBy(cert *x509.Certificate) bool {
	if cert.Subject.CommonName != s.subject.CommonName ||
		!sameSet(cert.Subject.Organization, s.subject.Organization) ||
		!slices.Contains(cert.ExtKeyUsage, s.usage) {
		return false
	}
	for _, name := range s.dnsNames {
		if !slices.ContainsFunc(cert.DNSNames, func(n string) bool { return strings.EqualFold(n, name) }) {
			return false
		}
	}
	for _, ip := range s.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// DefaultServingHosts returns the names and addresses the apiserver's
// serving certificate covers: the host name, the node's non-loopback,
// non-link-local interface addresses, the loopback addresses, localhost,
// the in-cluster names of the kubernetes Service and firstServiceIP (the
// kubernetes Service's ClusterIP; omitted if nil).
func DefaultServingHosts(firstServiceIP net.IP) ([]string, error) {
	hostname, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("host name: %w", err)
	}
	hosts := []string{strings.ToLower(hostname)}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("interface addresses: %w", err)
	}
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.IsLinkLocalUnicast() {
			continue
		}
		hosts = append(hosts, ipnet.IP.String())
	}
	hosts = append(hosts,
		"127.0.0.1", "::1", "localhost",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	if firstServiceIP != nil {
		hosts = append(hosts, firstServiceIP.String())
	}
	seen := make(map[string]bool, len(hosts))
	return slices.DeleteFunc(hosts, func(h string) bool {
		dup := seen[h]
		seen[h] = true
		return dup
	}), nil
}
