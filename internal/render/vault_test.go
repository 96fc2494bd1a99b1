package render_test

import (
	"testing"

	"github.com/hashicorp/hcl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/vault"
)

// The cloud KMS seals cannot be reached from here: their stanzas are rendered from values,
// parsed with the HCL library Vault reads its configuration with, and refused by the schema
// when a parameter Vault needs is missing.
func TestVaultSealStanzas(t *testing.T) {
	cases := []struct {
		seal   string
		params map[string]string
	}{
		{"awskms", map[string]string{"region": "eu-west-1", "kms_key_id": "alias/resimate-vault"}},
		{"azurekeyvault", map[string]string{"tenant_id": "00000000-0000-0000-0000-000000000001", "vault_name": "resimate-kv", "key_name": "vault-unseal"}},
		{"gcpckms", map[string]string{"project": "resimate-prod", "region": "global", "key_ring": "vault", "crypto_key": "unseal"}},
		{"transit", map[string]string{"address": "https://vault.example.org:8200", "key_name": "autounseal", "mount_path": "transit/"}},
	}
	for _, c := range cases {
		t.Run(c.seal, func(t *testing.T) {
			set := []string{"vault.bundled.seal.type=" + c.seal}
			for k, v := range c.params {
				set = append(set, "vault.bundled.seal.parameters."+k+"="+v)
			}
			res := renderProfile(t, "onprem", set...)
			cfg := vaultConfig(t, res)
			seals, ok := cfg["seal"].([]map[string]any)
			require.True(t, ok, "one seal stanza: %v", cfg["seal"])
			require.Len(t, seals, 1)
			body := seals[0][c.seal].([]map[string]any)[0]
			for k, v := range c.params {
				assert.Equal(t, v, body[k], k)
			}

			// Each parameter Vault needs, left out, is named by the schema.
			for missing := range c.params {
				if missing == "tenant_id" {
					continue // Azure's managed identity needs none
				}
				var partial []string
				for _, s := range set {
					if s != "vault.bundled.seal.parameters."+missing+"="+c.params[missing] {
						partial = append(partial, s)
					}
				}
				_, err := render.Render(t.Context(), render.Options{Profile: "onprem", Set: partial})
				require.Error(t, err, missing)
				assert.Contains(t, err.Error(), "'"+missing+"'")
			}
		})
	}
	cfg := vaultConfig(t, renderProfile(t, "onprem"))
	assert.NotContains(t, cfg, "seal", "Shamir keys by default")
}

func vaultConfig(t *testing.T, res *render.Result) map[string]any {
	cm := find(t, res, "ConfigMap", "resimate-vault-config")
	data, _, _ := unstructured.NestedString(cm.Object, "data", "vault.hcl")
	var cfg map[string]any
	require.NoError(t, hcl.Decode(&cfg, data), data)
	return cfg
}

// With cert-manager as the source of Vault's certificate the chart asks the site's issuer for
// the names install's own certificate carries, and the pods mount the Secret it fills.
func TestVaultCertificateFromCertManager(t *testing.T) {
	res := renderProfile(t, "onprem", "vault.bundled.tls.source=cert-manager", "vault.bundled.tls.issuerRef.name=site-ca")
	cert := find(t, res, "Certificate", "resimate-vault")
	names, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	assert.ElementsMatch(t, vault.DNSNames("resimate-vault", render.DefaultNamespace), names)
	issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	assert.Equal(t, "site-ca", issuer)
	secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	assert.Equal(t, vault.TLSSecretName("resimate"), secret)

	_, err := render.Render(t.Context(), render.Options{Profile: "onprem", Set: []string{"vault.bundled.tls.source=cert-manager"}})
	assert.ErrorContains(t, err, "issuerRef")
	_, err = render.Render(t.Context(), render.Options{Profile: "onprem", Set: []string{"vault.bundled.tls.source=existing"}})
	assert.ErrorContains(t, err, "secretName")
}
