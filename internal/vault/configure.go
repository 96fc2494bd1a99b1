package vault

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Layout is what the platform needs in Vault, as the chart renders it (ConfigMap
// <release>-vault-layout): the KV tree and who reads which part of it.
type Layout struct {
	KVMount        string  `json:"kvMount"`
	KubernetesHost string  `json:"kubernetesHost"`
	Secrets        []Entry `json:"secrets"`
	// InitialSecrets are values for entries written only when missing, by path.
	InitialSecrets map[string]map[string]any `json:"initialSecrets"`
	Roles          []Role                    `json:"roles"`
}

// Entry is one KV entry. With Secret set its fields come from that Kubernetes Secret (plus
// Fields) and Vault follows the Secret; otherwise it is created once with Fields and then
// left to its operators.
type Entry struct {
	Path   string         `json:"path"`
	Secret string         `json:"secret,omitempty"`
	Fields map[string]any `json:"fields"`
	Note   string         `json:"note,omitempty"`
}

// Role is one platform ServiceAccount's Kubernetes-auth role and the KV paths it may read.
type Role struct {
	Name           string   `json:"name"`
	ServiceAccount string   `json:"serviceAccount"`
	Paths          []string `json:"paths"`
}

// tokenAudience is the audience of the ServiceAccount tokens the platform's pods give Vault.
const tokenAudience = "vault"

// ParseLayout reads the layout ConfigMap's layout.json.
func ParseLayout(data string) (*Layout, error) {
	var l Layout
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		return nil, fmt.Errorf("the chart's Vault layout: %w", err)
	}
	if l.KVMount == "" {
		return nil, errors.New("the chart's Vault layout names no KV mount")
	}
	return &l, nil
}

// Policy is the least-privilege policy of a role: read on its paths, nothing else.
func (l *Layout) Policy(r Role) string {
	var b strings.Builder
	for _, p := range r.Paths {
		fmt.Fprintf(&b, "path %q {\n  capabilities = [\"read\"]\n}\n", l.KVMount+"/data/"+p)
	}
	return b.String()
}

// PolicyName is the name of a role's policy.
func PolicyName(r Role) string { return "resimate-" + r.Name }

// Desired is the whole configuration install applies: the layout with the values of the
// Secrets it copies, for one namespace.
type Desired struct {
	Layout    *Layout
	Namespace string
	// Secrets holds the data of the Kubernetes Secrets the layout names.
	Secrets map[string]map[string]string
}

// Digest identifies the configuration, so that a rerun can tell without a token that Vault
// already has it. It hashes the Secrets' values; it never contains them.
func (d Desired) Digest() string {
	b, _ := json.Marshal(struct {
		L  *Layout
		NS string
		S  map[string]map[string]string
	}{d.Layout, d.Namespace, d.Secrets})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fields returns an entry's data.
func (d Desired) fields(e Entry) map[string]any {
	out := map[string]any{}
	maps.Copy(out, e.Fields)
	maps.Copy(out, d.Layout.InitialSecrets[e.Path])
	for k, v := range d.Secrets[e.Secret] {
		out[k] = v
	}
	return out
}

// Configure applies d with an admin client, idempotently: the KV v2 mount and its tree,
// the audit device, Kubernetes auth and one policy and role per platform ServiceAccount.
// Roles and policies of components no longer in the layout are removed. It returns notes
// for the operator (entries left empty).
func Configure(ctx context.Context, c *api.Client, d Desired) ([]string, error) {
	steps := []struct {
		what string
		do   func(context.Context, *api.Client, Desired) ([]string, error)
	}{
		{"KV mount", ensureKVMount},
		{"audit device", ensureAudit},
		{"Kubernetes auth", ensureKubernetesAuth},
		{"policies and roles", ensureRoles},
		{"KV entries", ensureEntries},
	}
	var notes []string
	for _, s := range steps {
		n, err := s.do(ctx, c, d)
		if err != nil {
			return nil, fmt.Errorf("configuring Vault (%s): %w", s.what, err)
		}
		notes = append(notes, n...)
	}
	return notes, nil
}

func ensureKVMount(ctx context.Context, c *api.Client, d Desired) ([]string, error) {
	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return nil, err
	}
	if m, ok := mounts[d.Layout.KVMount+"/"]; ok {
		if m.Type != "kv" || m.Options["version"] != "2" {
			return nil, fmt.Errorf("%s/ is mounted as %s (options %v), not KV version 2", d.Layout.KVMount, m.Type, m.Options)
		}
		return nil, nil
	}
	return nil, c.Sys().MountWithContext(ctx, d.Layout.KVMount, &api.MountInput{Type: "kv", Description: "Resimate platform secrets", Options: map[string]string{"version": "2"}})
}

// ensureAudit logs every request to stdout, where the pod's log (and so Loki) has it.
func ensureAudit(ctx context.Context, c *api.Client, _ Desired) ([]string, error) {
	audits, err := c.Sys().ListAuditWithContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := audits["stdout/"]; ok {
		return nil, nil
	}
	return nil, c.Sys().EnableAuditWithOptionsWithContext(ctx, "stdout", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": "stdout"}})
}

// ensureKubernetesAuth reviews tokens with Vault's own ServiceAccount (its pod's token and CA),
// at the API server address the values give.
func ensureKubernetesAuth(ctx context.Context, c *api.Client, d Desired) ([]string, error) {
	auths, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := auths["kubernetes/"]; !ok {
		if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, "kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
			return nil, err
		}
	}
	_, err = c.Logical().WriteWithContext(ctx, "auth/kubernetes/config", map[string]any{"kubernetes_host": d.Layout.KubernetesHost})
	return nil, err
}

func ensureRoles(ctx context.Context, c *api.Client, d Desired) ([]string, error) {
	want := map[string]bool{}
	for _, r := range d.Layout.Roles {
		want[r.Name] = true
		if err := c.Sys().PutPolicyWithContext(ctx, PolicyName(r), d.Layout.Policy(r)); err != nil {
			return nil, err
		}
		_, err := c.Logical().WriteWithContext(ctx, "auth/kubernetes/role/"+r.Name, map[string]any{
			"bound_service_account_names":      []string{r.ServiceAccount},
			"bound_service_account_namespaces": []string{d.Namespace},
			"token_policies":                   []string{PolicyName(r)},
			// Only tokens made for Vault (projected with this audience) log in: a token that
			// also works against the API server does not.
			"audience":      tokenAudience,
			"token_ttl":     "1h",
			"token_max_ttl": "4h",
		})
		if err != nil {
			return nil, err
		}
	}
	// What an earlier layout had and this one does not goes.
	list, err := c.Logical().ListWithContext(ctx, "auth/kubernetes/role")
	if err != nil {
		return nil, err
	}
	if list != nil {
		keys, _ := list.Data["keys"].([]any)
		for _, k := range keys {
			name, _ := k.(string)
			if name == "" || want[name] {
				continue
			}
			if _, err := c.Logical().DeleteWithContext(ctx, "auth/kubernetes/role/"+name); err != nil {
				return nil, err
			}
			if err := c.Sys().DeletePolicyWithContext(ctx, PolicyName(Role{Name: name})); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

func ensureEntries(ctx context.Context, c *api.Client, d Desired) ([]string, error) {
	kv := c.KVv2(d.Layout.KVMount)
	var notes []string
	for _, e := range d.Layout.Entries() {
		want := d.fields(e)
		have, err := kv.Get(ctx, e.Path)
		switch {
		case errors.Is(err, api.ErrSecretNotFound):
			if _, err := kv.Put(ctx, e.Path, want); err != nil {
				return nil, err
			}
			if e.Note != "" && len(d.Layout.InitialSecrets[e.Path]) == 0 {
				notes = append(notes, fmt.Sprintf("Vault %s/%s was created empty: %s", d.Layout.KVMount, e.Path, e.Note))
			}
		case err != nil:
			return nil, err
		case e.Secret != "" && !reflect.DeepEqual(have.Data, want):
			// Entries copied from a Secret follow it (a rotated password).
			if _, err := kv.Put(ctx, e.Path, want); err != nil {
				return nil, err
			}
		}
	}
	return notes, nil
}

// Entries returns the layout's entries in path order.
func (l *Layout) Entries() []Entry {
	out := slices.Clone(l.Secrets)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// decodeRootToken turns generate-root's encoded token into the token: base64 without padding,
// XORed with the one-time password.
func decodeRootToken(encoded, otp string) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(encoded)
	if err != nil {
		return "", fmt.Errorf("decoding the generated root token: %w", err)
	}
	if len(b) != len(otp) {
		return "", errors.New("decoding the generated root token: its length differs from the one-time password's")
	}
	for i := range b {
		b[i] ^= otp[i]
	}
	return string(b), nil
}
