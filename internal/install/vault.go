package install

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"

	"filippo.io/age"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/agekeys"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/vault"
)

// VaultOptions are install's choices for the bundled Vault.
type VaultOptions struct {
	// Manual leaves initialising and unsealing to the site's operators (a key ceremony); install
	// then only waits, like for any component, until Vault's pods are Ready.
	Manual    bool
	KeyShares int
	Threshold int
	// Recipients are age or SSH public keys (or files of them) the keys are encrypted to.
	Recipients []string
	// KeysFile is where the encrypted keys are written, and read on reruns.
	KeysFile string
	// Identity is an age or SSH private key file that decrypts KeysFile when a rerun needs the
	// keys (unseal, reconfigure).
	Identity string

	recipients []age.Recipient
	identities []age.Identity
}

// DefaultKeysFile is the key file's name when --vault-keys-file is not given.
func DefaultKeysFile(ns, release string) string {
	return fmt.Sprintf("%s-%s-vault-keys.age", ns, release)
}

// Complete parses the recipients and the identity: a bad key is a usage error before anything
// changes.
func (o *VaultOptions) Complete() error {
	o.KeyShares, o.Threshold = cmp.Or(o.KeyShares, 5), cmp.Or(o.Threshold, 3)
	if o.KeyShares < 1 || o.Threshold < 1 || o.Threshold > o.KeyShares {
		return fmt.Errorf("--vault-key-threshold must be between 1 and --vault-key-shares (%d), got %d", o.KeyShares, o.Threshold)
	}
	rs, err := agekeys.ParseRecipients(o.Recipients)
	if err != nil {
		return fmt.Errorf("--vault-recipient: %w", err)
	}
	o.recipients = rs
	if o.Identity != "" {
		ids, err := agekeys.ReadIdentities(o.Identity)
		if err != nil {
			return fmt.Errorf("--vault-identity: %w", err)
		}
		o.identities = ids
	}
	return nil
}

// vaultSetup returns the Vault phase of an install when it has one: a bundled Vault that
// install initialises. It refuses, before anything changes, a first install with nowhere to
// encrypt the keys to.
func vaultSetup(env *Env, c *kube.Set, rendered *render.Result, opts Options) (*vault.Setup, error) {
	v := rendered.Effective
	if mode, _, _ := unstructured.NestedString(v, "vault", "mode"); mode != "bundled" || opts.Vault.Manual {
		return nil, nil
	}
	if err := opts.Vault.Complete(); err != nil {
		return nil, &InputError{Err: err}
	}
	keysFile := opts.Vault.KeysFile
	if keysFile == "" {
		keysFile = DefaultKeysFile(opts.Chart.Namespace, rendered.ReleaseName())
	}
	if _, err := os.Stat(keysFile); errors.Is(err, os.ErrNotExist) && len(opts.Vault.recipients) == 0 {
		return nil, &InputError{Err: fmt.Errorf("the bundled Vault's unseal keys must be encrypted to someone: give --vault-recipient (an age or SSH public key; repeatable), or --vault-init=manual to initialise Vault yourself (no key file at %s yet)", keysFile)}
	}
	replicas := 1
	if n, ok, _ := unstructured.NestedFieldNoCopy(v, "vault", "bundled", "replicas"); ok {
		// YAML values are int, JSON ones float64.
		fmt.Sscan(fmt.Sprint(n), &replicas)
	}
	sealType, _, _ := unstructured.NestedString(v, "vault", "bundled", "seal", "type")
	layout, err := vaultLayout(rendered)
	if err != nil {
		return nil, err
	}
	name := rendered.ReleaseName() + "-vault"
	return &vault.Setup{
		Bootstrap: vault.Bootstrap{
			Target: vault.Target{Kube: c, Namespace: opts.Chart.Namespace, Name: name, Replicas: replicas,
				TLSSecret: vaultTLSSecret(rendered)},
			Seal:       vault.Seal{Type: sealType, Shares: opts.Vault.KeyShares, Threshold: opts.Vault.Threshold},
			KeysFile:   keysFile,
			Recipients: opts.Vault.recipients,
			Identities: opts.Vault.identities,
			Secret:     env.Redactor.Register,
			Progress:   func(m string) { env.emit(Event{Type: "note", Component: "vault", Message: m}) },
		},
		Desired: vault.Desired{Layout: layout, Namespace: opts.Chart.Namespace},
	}, nil
}

// vaultLayout reads the layout the chart rendered.
func vaultLayout(rendered *render.Result) (*vault.Layout, error) {
	want := rendered.ReleaseName() + "-vault-layout"
	for _, o := range rendered.Objects {
		if o.GetKind() == "ConfigMap" && o.GetName() == want {
			data, _, _ := unstructured.NestedString(o.Object, "data", "layout.json")
			return vault.ParseLayout(data)
		}
	}
	return nil, fmt.Errorf("the chart rendered no ConfigMap %s", want)
}

// runVault completes the Desired configuration with the Secrets it copies and runs the phase.
func runVault(ctx context.Context, env *Env, s *vault.Setup) ([]string, error) {
	s.Desired.Secrets = map[string]map[string]string{}
	for _, e := range s.Desired.Layout.Secrets {
		if e.Secret == "" {
			continue
		}
		sec, err := s.Kube.Kube.CoreV1().Secrets(s.Namespace).Get(ctx, e.Secret, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading Secret %s/%s for Vault: %w", s.Namespace, e.Secret, err)
		}
		data := map[string]string{}
		for k, v := range sec.Data {
			data[k] = string(v)
		}
		s.Desired.Secrets[e.Secret] = data
	}
	env.emit(Event{Type: "phase", Message: "vault"})
	return s.Run(ctx)
}

// vaultTLSSecret is the Secret of the bundled Vault's certificate.
func vaultTLSSecret(rendered *render.Result) string {
	if name, _, _ := unstructured.NestedString(rendered.Effective, "vault", "bundled", "tls", "secretName"); vaultTLSSource(rendered) == "existing" {
		return name
	}
	return vault.TLSSecretName(rendered.ReleaseName())
}

func vaultTLSSource(rendered *render.Result) string {
	src, _, _ := unstructured.NestedString(rendered.Effective, "vault", "bundled", "tls", "source")
	return src
}

// ensureVaultTLS makes the bundled Vault's CA and certificate when install is their source:
// the pods mount them from the start.
func ensureVaultTLS(ctx context.Context, env *Env, c *kube.Set, rendered *render.Result, ns string) error {
	if mode, _, _ := unstructured.NestedString(rendered.Effective, "vault", "mode"); mode != "bundled" || vaultTLSSource(rendered) != "generated" {
		return nil
	}
	labels := map[string]string{"app.kubernetes.io/part-of": "resimate", "app.kubernetes.io/instance": rendered.ReleaseName(), "app.kubernetes.io/managed-by": "resimatectl"}
	made, err := vault.EnsureTLS(ctx, c.Kube, ns, vaultTLSSecret(rendered), rendered.ReleaseName()+"-vault", labels)
	if made {
		env.emit(Event{Type: "note", Component: "vault", Message: fmt.Sprintf("generated a CA and certificate for Vault's listener (Secret %s)", vaultTLSSecret(rendered))})
	}
	return err
}
