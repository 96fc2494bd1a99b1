{{/* Pod spec of an API, the same for a Knative Service and a Deployment. */}}
{{- define "resimate.apiPodSpec" -}}
serviceAccountName: {{ .name }}
automountServiceAccountToken: false
securityContext: {{- include "resimate.podSecurityContext" .ctx | nindent 2 }}
{{- include "resimate.imagePullSecrets" .ctx }}
{{- include "resimate.scheduling" .ctx }}
{{- if .knative }}
containerConcurrency: {{ .ctx.Values.apis.containerConcurrency }}
{{- end }}
{{- $agent := eq .ctx.Values.vault.mode "bundled" }}
{{- if $agent }}
# Vault Agent logs in with the pod's ServiceAccount (a token only Vault accepts) and writes
# the API's secrets to a memory-backed folder before the API starts.
initContainers:
  - name: vault-agent
    image: {{ include "resimate.image" (dict "ctx" .ctx "image" .ctx.Values.vault.bundled.image) }}
    imagePullPolicy: {{ .ctx.Values.global.imagePullPolicy }}
    command: ["vault", "agent", "-config=/vault/agent/agent.hcl"]
    env:
      - {name: SKIP_SETCAP, value: "true"}
    resources:
      requests: {cpu: 50m, memory: 64Mi}
      limits: {cpu: 200m, memory: 128Mi}
    securityContext: {{- include "resimate.containerSecurityContext" .ctx | nindent 6 }}
    volumeMounts:
      - {name: vault-agent, mountPath: /vault/agent, readOnly: true}
      - {name: vault-token, mountPath: /var/run/secrets/vault, readOnly: true}
      - {name: vault-ca, mountPath: /vault/tls, readOnly: true}
      - {name: vault-secrets, mountPath: /vault/secrets}
      - {name: tmp, mountPath: /tmp}
{{- end }}
containers:
  - name: api
    image: {{ include "resimate.image" (dict "ctx" .ctx "image" .api.spec.image) }}
    imagePullPolicy: {{ .ctx.Values.global.imagePullPolicy }}
    ports:
      - containerPort: {{ .ctx.Values.apis.port }}
        {{- if not .knative }}
        name: http
        {{- end }}
    env:
      {{- if $agent }}
      # The connection URL, with its password, as Vault Agent wrote it from Vault.
      - {name: DATABASE_URL_FILE, value: /vault/secrets/database-url}
      {{- else }}
      {{- include "resimate.databaseEnv" (dict "ctx" .ctx "secret" (include "resimate.secret.dbApp" .ctx) "database" .ctx.Values.postgres.database "var" "DATABASE_URL" "extra" (printf "&search_path=tenant_%s" .ctx.Values.global.tenant)) | nindent 6 }}
      {{- end }}
      - {name: VAULT_ADDR, value: {{ include "resimate.vault.address" .ctx | quote }}}
      {{- if .ctx.Values.kratos.enabled }}
      # Every request's session is checked there ("Validate Token" in the request flow).
      - {name: KRATOS_PUBLIC_URL, value: {{ include "resimate.kratos.publicURL" .ctx | quote }}}
      {{- end }}
      - {name: TENANT, value: {{ .ctx.Values.global.tenant | quote }}}
      {{- if eq .api.key "campaigns" }}
      - {name: SMTP_HOST, value: {{ .api.spec.smtp.host | quote }}}
      - {name: SMTP_PORT, value: {{ .api.spec.smtp.port | quote }}}
      {{- end }}
    readinessProbe:
      httpGet: {path: /healthz, port: {{ .ctx.Values.apis.port }}}
    {{- if not .knative }}
    livenessProbe:
      httpGet: {path: /healthz, port: {{ .ctx.Values.apis.port }}}
      initialDelaySeconds: 10
    {{- end }}
    resources: {{- toYaml .ctx.Values.apis.resources | nindent 6 }}
    securityContext: {{- include "resimate.containerSecurityContext" .ctx | nindent 6 }}
    volumeMounts:
      - {name: tmp, mountPath: /tmp}
      {{- if $agent }}
      - {name: vault-secrets, mountPath: /vault/secrets, readOnly: true}
      {{- end }}
volumes:
  - {name: tmp, emptyDir: {}}
  {{- if $agent }}
  - name: vault-agent
    configMap: {name: {{ .name }}-vault-agent}
  - name: vault-secrets
    emptyDir: {medium: Memory}
  - name: vault-ca
    secret:
      secretName: {{ include "resimate.vault.tlsSecret" .ctx }}
      items: [{key: ca.crt, path: ca.crt}]
  - name: vault-token
    projected:
      sources:
        - serviceAccountToken: {audience: vault, expirationSeconds: 600, path: token}
  {{- end }}
{{- end }}

{{/*
Vault Agent's configuration for one API: Kubernetes auth with the API's role, and the
database URL rendered from the KV entry the role may read. Call with (dict "ctx" $ "name"
"<fullname>-<api>" "role" "<api>").
*/}}
{{- define "resimate.vaultAgentConfig" -}}
{{- $o := "{{" }}{{- $c := "}}" -}}
exit_after_auth = true
pid_file        = "/tmp/vault-agent.pid"
vault {
  address = {{ include "resimate.vault.address" .ctx | quote }}
  ca_cert = "/vault/tls/ca.crt"
}
auto_auth {
  method "kubernetes" {
    mount_path = "auth/kubernetes"
    config = {
      role       = {{ .role | quote }}
      token_path = "/var/run/secrets/vault/token"
    }
  }
}
template {
  destination = "/vault/secrets/database-url"
  perms       = "0400"
  contents    = <<-EOT
  {{ $o }} with secret "resimate/data/database/postgres-credentials" {{ $c }}postgres://{{ $o }} .Data.data.username {{ $c }}:{{ $o }} .Data.data.password {{ $c }}@{{ $o }} .Data.data.host {{ $c }}:{{ $o }} .Data.data.port {{ $c }}/{{ $o }} .Data.data.database {{ $c }}?sslmode={{ $o }} .Data.data.sslmode {{ $c }}&search_path=tenant_{{ .ctx.Values.global.tenant }}{{ $o }} end {{ $c }}
  EOT
}
{{- end }}
