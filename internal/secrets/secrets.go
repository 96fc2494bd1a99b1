// Package secrets makes the Secrets the platform needs on the first install and keeps them for
// every later run; their values are registered with the redactor and never printed.
package secrets

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/resimate/resimatectl/internal/redact"
)

// generatedSecret is one Secret the platform needs and resimatectl makes on the first install.
type generatedSecret struct {
	suffix string
	typ    corev1.SecretType
	// fields returns the keys and values of a new Secret.
	fields func() (map[string]string, error)
}

// Secrets the chart expects (docs/charts.md). Passwords are alphanumeric so that they can stand
// in a connection URL unescaped.
var platformSecrets = []generatedSecret{
	{suffix: "db-app", typ: corev1.SecretTypeBasicAuth, fields: basicAuth("resimate")},
	{suffix: "db-kratos", typ: corev1.SecretTypeBasicAuth, fields: basicAuth("kratos")},
	{suffix: "kratos", typ: corev1.SecretTypeOpaque, fields: func() (map[string]string, error) {
		cookie, err := randomString(48)
		if err != nil {
			return nil, err
		}
		// Kratos' cipher secret must be exactly 32 characters.
		cipher, err := randomString(32)
		return map[string]string{"cookie": cookie, "cipher": cipher}, err
	}},
}

func basicAuth(user string) func() (map[string]string, error) {
	return func() (map[string]string, error) {
		pw, err := randomString(40)
		return map[string]string{corev1.BasicAuthUsernameKey: user, corev1.BasicAuthPasswordKey: pw}, err
	}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString draws n characters from crypto/rand.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// Ensure creates the platform's Secrets that do not exist yet and keeps those that do, so
// every later run reuses the first install's values. Every value is registered with the
// redactor: none can reach output, logs or errors. It reports how many it created.
func Ensure(ctx context.Context, kube kubernetes.Interface, ns, release string, r *redact.Redactor) (int, error) {
	created := 0
	for _, s := range platformSecrets {
		name := release + "-" + s.suffix
		existing, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for k, v := range existing.Data {
				if k != corev1.BasicAuthUsernameKey { // user names are not secret, and "resimate" is everywhere
					r.Register(string(v))
				}
			}
			continue
		}
		if !apierrors.IsNotFound(err) {
			return created, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
		}
		fields, err := s.fields()
		if err != nil {
			return created, err
		}
		for k, v := range fields {
			if k != corev1.BasicAuthUsernameKey {
				r.Register(v)
			}
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
				"app.kubernetes.io/part-of":    "resimate",
				"app.kubernetes.io/instance":   release,
				"app.kubernetes.io/managed-by": "resimatectl",
			}},
			Type:       s.typ,
			StringData: fields,
		}
		if _, err := kube.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return created, fmt.Errorf("creating Secret %s/%s: %w", ns, name, err)
		}
		created++
	}
	return created, nil
}

// Names lists the generated Secrets of a release (uninstall --purge removes them).
func Names(release string) []string {
	names := make([]string, 0, len(platformSecrets))
	for _, s := range platformSecrets {
		names = append(names, release+"-"+s.suffix)
	}
	return names
}

// DatabaseLogins are the user names and passwords of the platform's database roles, read from
// the generated Secrets (Ensure first): the application's (db-app) and Kratos' (db-kratos).
func DatabaseLogins(ctx context.Context, kube kubernetes.Interface, ns, release string) (app, kratos Login, err error) {
	read := func(suffix string) (Login, error) {
		s, err := kube.CoreV1().Secrets(ns).Get(ctx, release+"-"+suffix, metav1.GetOptions{})
		if err != nil {
			return Login{}, fmt.Errorf("reading Secret %s/%s-%s: %w", ns, release, suffix, err)
		}
		return Login{User: string(s.Data[corev1.BasicAuthUsernameKey]), Password: string(s.Data[corev1.BasicAuthPasswordKey])}, nil
	}
	if app, err = read("db-app"); err != nil {
		return app, kratos, err
	}
	kratos, err = read("db-kratos")
	return app, kratos, err
}

// Login is a user name and its password (a secret).
type Login struct{ User, Password string }
