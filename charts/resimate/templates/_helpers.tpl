{{/* Name prefix of every object: the release name. */}}
{{- define "resimate.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Recommended labels; call with (dict "ctx" $ "component" "frontend"). */}}
{{- define "resimate.labels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: resimate
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
resimate.io/profile: {{ .ctx.Values.profile.name | quote }}
{{- end -}}

{{/* Labels that select a component's pods. */}}
{{- define "resimate.selector" -}}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image reference of a component; call with (dict "ctx" $ "image" .Values.x.image). With
global.imageRegistry set, the image comes from that mirror: its registry host is replaced, its
path kept (a Docker Hub short name keeps all of it). */}}
{{- define "resimate.image" -}}
{{- $repo := .image.repository -}}
{{- with .ctx.Values.global.imageRegistry -}}
{{- $parts := splitList "/" $repo -}}
{{- $first := first $parts -}}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $parts = rest $parts -}}
{{- end -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) (join "/" $parts) -}}
{{- end -}}
{{- printf "%s:%s" $repo (default .ctx.Values.global.imageTag .image.tag) -}}
{{- end -}}

{{/* Pod-level security: PodSecurity "restricted". */}}
{{- define "resimate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security: PodSecurity "restricted" with a read-only root filesystem. */}}
{{- define "resimate.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Node placement of every pod: global.nodeSelector and global.tolerations. */}}
{{- define "resimate.scheduling" -}}
{{- with .Values.global.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.global.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "resimate.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Secrets that resimatectl generates on first install and reuses afterwards. */}}
{{- define "resimate.secret.kratos" -}}{{ include "resimate.fullname" . }}-kratos{{- end -}}
{{- define "resimate.secret.dbApp" -}}{{ include "resimate.fullname" . }}-db-app{{- end -}}
{{- define "resimate.secret.dbKratos" -}}{{ include "resimate.fullname" . }}-db-kratos{{- end -}}

{{- define "resimate.postgres.cluster" -}}{{ include "resimate.fullname" . }}-postgres{{- end -}}

{{/* Host and port of PostgreSQL in either mode. */}}
{{- define "resimate.postgres.host" -}}
{{- if eq .Values.postgres.mode "operator" -}}
{{ include "resimate.postgres.cluster" . }}-rw.{{ .Release.Namespace }}.svc
{{- else -}}
{{ .Values.postgres.external.host }}
{{- end -}}
{{- end -}}
{{- define "resimate.postgres.port" -}}
{{- if eq .Values.postgres.mode "operator" }}5432{{ else }}{{ .Values.postgres.external.port }}{{ end -}}
{{- end -}}
{{- define "resimate.postgres.sslmode" -}}
{{- if eq .Values.postgres.mode "operator" }}require{{ else }}{{ .Values.postgres.external.sslmode }}{{ end -}}
{{- end -}}

{{/*
Environment that yields a connection URL from a basic-auth Secret, without the password ever
standing in a manifest: Kubernetes expands $(DB_USER) and $(DB_PASSWORD) from the Secret.
Call with (dict "ctx" $ "secret" "<name>" "database" "<db>" "var" "DATABASE_URL" "extra" "&search_path=x").
*/}}
{{- define "resimate.databaseEnv" -}}
- name: DB_USER
  valueFrom:
    secretKeyRef: {name: {{ .secret }}, key: username}
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .secret }}, key: password}
- name: {{ .var }}
  value: {{ printf "postgres://$(DB_USER):$(DB_PASSWORD)@%s:%s/%s?sslmode=%s%s" (include "resimate.postgres.host" .ctx) (include "resimate.postgres.port" .ctx) .database (include "resimate.postgres.sslmode" .ctx) (default "" .extra) | quote }}
{{- end -}}

{{/* The Secret of the bundled Vault's listener certificate: tls.crt, tls.key and ca.crt. */}}
{{- define "resimate.vault.tlsSecret" -}}
{{- if eq .Values.vault.bundled.tls.source "existing" -}}
{{ required "vault.bundled.tls.secretName is required when tls.source is existing" .Values.vault.bundled.tls.secretName }}
{{- else -}}
{{ include "resimate.fullname" . }}-vault-tls
{{- end -}}
{{- end -}}

{{/* The names the bundled Vault's certificate must carry (install's generated one has the same). */}}
{{- define "resimate.vault.dnsNames" -}}
{{- $name := printf "%s-vault" (include "resimate.fullname" .) -}}
- {{ $name }}
- {{ $name }}.{{ .Release.Namespace }}.svc
- {{ $name }}-internal
- "*.{{ $name }}-internal"
- "*.{{ $name }}-internal.{{ .Release.Namespace }}.svc"
- localhost
{{- end -}}

{{- define "resimate.vault.address" -}}
{{- if eq .Values.vault.mode "bundled" -}}
https://{{ include "resimate.fullname" . }}-vault.{{ .Release.Namespace }}.svc:8200
{{- else -}}
{{ .Values.vault.external.address }}
{{- end -}}
{{- end -}}

{{- define "resimate.kratos.publicURL" -}}
http://{{ include "resimate.fullname" . }}-kratos-public.{{ .Release.Namespace }}.svc
{{- end -}}

{{/* Public base URL of the platform. */}}
{{- define "resimate.publicURL" -}}
{{ if .Values.ingress.tls.enabled }}https{{ else }}http{{ end }}://{{ .Values.global.domain }}
{{- end -}}

{{/* The three APIs as a list of dicts, so templates loop instead of repeating themselves. */}}
{{- define "resimate.apis" -}}
{{- $apis := list -}}
{{- range $key, $name := dict "coreModel" "core-model-api" "campaigns" "campaigns-api" "config" "config-api" -}}
{{- $api := get $.Values.apis $key -}}
{{- if $api.enabled -}}
{{- $apis = append $apis (dict "key" $key "name" $name "spec" $api) -}}
{{- end -}}
{{- end -}}
{{- dict "items" $apis | toJson -}}
{{- end -}}

{{/* Kratos' public API is served on its own host beside the frontend's. */}}
{{- define "resimate.authHost" -}}auth.{{ .Values.global.domain }}{{- end -}}
{{- define "resimate.authURL" -}}
{{ if .Values.ingress.tls.enabled }}https{{ else }}http{{ end }}://{{ include "resimate.authHost" . }}
{{- end -}}

{{/* Egress to PostgreSQL: the operator's pods, or the managed server outside the cluster. */}}
{{- define "resimate.np.postgresEgress" -}}
{{- if eq .Values.postgres.mode "operator" -}}
- to:
    - podSelector:
        matchLabels: {cnpg.io/cluster: {{ include "resimate.postgres.cluster" . }}}
  ports:
    - {protocol: TCP, port: 5432}
{{- else -}}
{{- $ext := .Values.postgres.external }}
{{- $cidrs := $ext.cidrs }}
{{- if and (not $cidrs) (regexMatch "^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$" $ext.host) }}{{ $cidrs = list (printf "%s/32" $ext.host) }}{{ end }}
{{- if not $cidrs }}{{ $cidrs = list "0.0.0.0/0" }}{{ end }}
- to:
    {{- range $cidrs }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports:
    - {protocol: TCP, port: {{ $ext.port }}}
{{- end -}}
{{- end -}}

{{/* Egress to the Kubernetes API, which Vault and CloudNativePG's instance manager call. */}}
{{- define "resimate.np.kubeAPIEgress" -}}
- to:
    {{- range (default (list "0.0.0.0/0") .Values.networkPolicies.apiServerCIDRs) }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports:
    {{- range (default (list 443 6443) .Values.networkPolicies.apiServerPorts) }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end -}}

{{/* Port of a parsed URL: explicit, or the scheme's default. */}}
{{- define "resimate.np.urlPort" -}}
{{- $hp := splitList ":" .host -}}
{{- if gt (len $hp) 1 }}{{ last $hp }}{{ else if eq .scheme "https" }}443{{ else }}80{{ end -}}
{{- end -}}

{{/* Peers in NetworkPolicies: one component's pods, or the APIs' pods. */}}
{{- define "resimate.np.pods" -}}
podSelector:
  matchLabels:
    app.kubernetes.io/instance: {{ .inst }}
    app.kubernetes.io/component: {{ .component }}
{{- end -}}
{{- define "resimate.np.apiPods" -}}
podSelector:
  matchExpressions:
    - {key: app.kubernetes.io/instance, operator: In, values: [{{ .inst }}]}
    - {key: app.kubernetes.io/component, operator: In, values: {{ .names | toJson }}}
{{- end -}}

{{/* The replica count of an autoscaled workload, on the first install only. From then on the HPA
owns it: an upgrade that set it again would undo what the autoscaler chose. */}}
{{- define "resimate.initialReplicas" -}}
{{- if .ctx.Release.IsInstall }}replicas: {{ .replicas }}{{ end -}}
{{- end -}}
