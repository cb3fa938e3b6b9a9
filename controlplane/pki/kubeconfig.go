package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigSpec describes a kubeconfig with one cluster, one user and one
// context. The user authenticates with a client certificate, a bearer
// token, or both.
type KubeconfigSpec struct {
	// Server is the apiserver URL, such as https://127.0.0.1:6443.
	Server string
	// CAPEM is the CA bundle the client verifies the server with.
	CAPEM []byte
	// ClientCertPEM and ClientKeyPEM are the client certificate and key.
	ClientCertPEM, ClientKeyPEM []byte
	// Token is a bearer token.
	Token string
	// Name names the cluster and the context; "skiff" if empty.
	Name string
	// User names the user entry; "admin" if empty.
	User string
}

// WriteKubeconfig writes the kubeconfig spec describes to path atomically,
// with mode 0600 even if path existed with another mode. Data is embedded,
// so the file stands alone.
func WriteKubeconfig(path string, spec KubeconfigSpec) error {
	if spec.Server == "" || len(spec.CAPEM) == 0 {
		return errors.New("kubeconfig: server and CA are required")
	}
	if (len(spec.ClientCertPEM) == 0) != (len(spec.ClientKeyPEM) == 0) {
		return errors.New("kubeconfig: client certificate and key go together")
	}
	if len(spec.ClientCertPEM) == 0 && spec.Token == "" {
		return errors.New("kubeconfig: a client certificate or a token is required")
	}
	name, user := spec.Name, spec.User
	if name == "" {
		name = "skiff"
	}
	if user == "" {
		user = "admin"
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: spec.Server, CertificateAuthorityData: spec.CAPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{
		ClientCertificateData: spec.ClientCertPEM,
		ClientKeyData:         spec.ClientKeyPEM,
		Token:                 spec.Token,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	cfg.CurrentContext = name
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("kubeconfig directory: %w", err)
	}
	return writeFileAtomic(path, data, keyMode)
}
