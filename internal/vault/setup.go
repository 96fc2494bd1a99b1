package vault

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Setup is install's Vault phase: bootstrap (init, keys, unseal, join), then the configuration,
// applied with a short-lived root token that is revoked at the end. A rerun whose configuration
// Vault already has (the digest recorded in ConfigMap <name>-state) needs no token and no keys.
type Setup struct {
	Bootstrap
	Desired Desired
}

// stateKey is the ConfigMap key of the applied configuration's digest.
const stateKey = "configured"

// Run brings Vault up and configured; it returns notes for the operator.
func (s *Setup) Run(ctx context.Context) ([]string, error) {
	u, err := s.Bootstrap.Run(ctx)
	if err != nil {
		return nil, err
	}
	defer u.Close()
	digest := s.Desired.Digest()
	if applied, _ := s.appliedDigest(ctx); applied == digest {
		s.say("Vault is unsealed and already configured")
		return nil, nil
	}
	if _, err := os.Stat(s.KeysFile); u.Keys == nil && err != nil {
		return nil, fmt.Errorf("the bundled Vault's configuration must change (policies, roles or secrets), which needs a root token made with its keys, and there is no key file at %s: it was initialised by someone else, or the file is elsewhere (--vault-keys-file)", s.KeysFile)
	}
	if u.Keys == nil {
		return nil, fmt.Errorf("the bundled Vault's configuration must change (policies, roles or secrets), which needs a root token made with its keys: give --vault-identity (a recipient's private key of %s)", s.KeysFile)
	}
	leader := u.leader(ctx)
	if leader == nil {
		return nil, errors.New("no Vault pod is the Raft leader")
	}
	client, err := leader.Client.Clone()
	if err != nil {
		return nil, err
	}
	token, err := s.adminToken(ctx, client, u.Keys)
	if err != nil {
		return nil, err
	}
	client.SetToken(token)
	s.say("configuring Vault: KV %s/, Kubernetes auth, %d roles and policies, audit log", s.Desired.Layout.KVMount, len(s.Desired.Layout.Roles))
	notes, err := Configure(ctx, client, s.Desired)
	// The root token goes whatever happened: none outlives the run.
	if rerr := client.Auth().Token().RevokeSelfWithContext(context.WithoutCancel(ctx), ""); rerr != nil && err == nil {
		err = fmt.Errorf("revoking the root token: %w", rerr)
	}
	if err != nil {
		return nil, err
	}
	if err := s.saveDigest(ctx, digest); err != nil {
		return nil, err
	}
	s.say("Vault configured; the root token was revoked")
	return notes, nil
}

func (u *Unsealed) leader(ctx context.Context) *Conn {
	for _, c := range u.Conns {
		if Status(ctx, c).Role == "leader" {
			return c
		}
	}
	return nil
}

// adminToken is the initial root token while it still works; afterwards (it is revoked at the
// end of every configuration) a new one generated with the key holders' quorum.
func (s *Setup) adminToken(ctx context.Context, c *api.Client, keys *Keys) (string, error) {
	if keys.RootToken != "" {
		c.SetToken(keys.RootToken)
		_, err := c.Auth().Token().LookupSelfWithContext(ctx)
		c.ClearToken()
		if err == nil {
			return keys.RootToken, nil
		}
	}
	sys := c.Sys()
	if st, err := sys.GenerateRootStatusWithContext(ctx); err == nil && st.Started {
		// An attempt a killed run left behind: its one-time password is lost with it.
		if err := sys.GenerateRootCancelWithContext(ctx); err != nil {
			return "", err
		}
	}
	st, err := sys.GenerateRootInitWithContext(ctx, "", "")
	if err != nil {
		return "", fmt.Errorf("starting a root token generation: %w", err)
	}
	otp, nonce := st.OTP, st.Nonce
	for _, k := range keys.Quorum() {
		if st, err = sys.GenerateRootUpdateWithContext(ctx, k, nonce); err != nil {
			_ = sys.GenerateRootCancelWithContext(ctx)
			return "", fmt.Errorf("generating a root token with the keys of %s: %w", s.KeysFile, err)
		}
		if st.Complete {
			break
		}
	}
	if !st.Complete {
		_ = sys.GenerateRootCancelWithContext(ctx)
		return "", fmt.Errorf("the keys of %s did not reach Vault's threshold for a root token", s.KeysFile)
	}
	token, err := decodeRootToken(st.EncodedRootToken, otp)
	if err != nil {
		return "", err
	}
	if s.Secret != nil {
		s.Secret(token)
	}
	return token, nil
}

// StateName is the ConfigMap that records the configuration applied to release's Vault.
func StateName(release string) string { return release + "-vault-state" }

func (s *Setup) stateName() string { return s.Name + "-state" }

func (s *Setup) appliedDigest(ctx context.Context) (string, error) {
	cm, err := s.Kube.Kube.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.stateName(), metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return cm.Data[stateKey], nil
}

func (s *Setup) saveDigest(ctx context.Context, digest string) error {
	cms := s.Kube.Kube.CoreV1().ConfigMaps(s.Namespace)
	cm, err := cms.Get(ctx, s.stateName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: s.stateName(), Labels: map[string]string{
			"app.kubernetes.io/part-of": "resimate", "app.kubernetes.io/managed-by": "resimatectl"}}}
		cm.Data = map[string]string{stateKey: digest}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[stateKey] = digest
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	return err
}
