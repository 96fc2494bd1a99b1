package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Validity of what EnsureTLS makes. Renewal is a new install run after deleting the Secret.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	certValidity = 2 * 365 * 24 * time.Hour
)

// DNSNames are the names the listener's certificate carries: the Services' and every pod's
// (the chart's resimate.vault.dnsNames, for cert-manager, says the same).
func DNSNames(name, ns string) []string {
	return []string{name, name + "." + ns + ".svc", name + "-internal", "*." + name + "-internal", "*." + name + "-internal." + ns + ".svc", "localhost"}
}

// TLSSecretName is the Secret of the listener's certificate that install or cert-manager makes.
func TLSSecretName(release string) string { return release + "-vault-tls" }

// EnsureTLS makes the Secret of the listener's certificate when it does not exist: a CA of
// its own (kept only as ca.crt: its key is thrown away, so nothing can issue more) and the
// certificate it signed. It reports whether it made one.
func EnsureTLS(ctx context.Context, kube kubernetes.Interface, ns, secretName, vaultName string, labels map[string]string) (bool, error) {
	_, err := kube.CoreV1().Secrets(ns).Get(ctx, secretName, metav1.GetOptions{})
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, err
	}
	data, err := NewCertificate(vaultName, ns)
	if err != nil {
		return false, err
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Labels: labels}, Type: corev1.SecretTypeTLS, Data: data}
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("creating Secret %s/%s: %w", ns, secretName, err)
	}
	return true, nil
}

// NewCertificate makes a CA and the listener certificate it signs, for the names DNSNames
// gives and 127.0.0.1: the Secret's tls.crt, tls.key and ca.crt.
func NewCertificate(vaultName, ns string) (map[string][]byte, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: vaultName + "." + ns + " CA", Organization: []string{"Resimate"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caValidity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: vaultName + "." + ns + ".svc"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
		DNSNames: DNSNames(vaultName, ns), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"ca.crt":                pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// LoadCA reads the CA that verifies the listener from the certificate's Secret.
func LoadCA(ctx context.Context, kube kubernetes.Interface, ns, secretName string) (*x509.CertPool, error) {
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading Vault's TLS Secret %s/%s: %w", ns, secretName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
		return nil, fmt.Errorf("the bundled Vault's TLS Secret %s/%s has no ca.crt to verify its certificate with", ns, secretName)
	}
	return pool, nil
}
