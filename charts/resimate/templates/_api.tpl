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
      {{- include "resimate.databaseEnv" (dict "ctx" .ctx "secret" (include "resimate.secret.dbApp" .ctx) "database" .ctx.Values.postgres.database "var" "DATABASE_URL" "extra" (printf "&search_path=tenant_%s" .ctx.Values.global.tenant)) | nindent 6 }}
      - {name: VAULT_ADDR, value: {{ include "resimate.vault.address" .ctx | quote }}}
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
volumes:
  - {name: tmp, emptyDir: {}}
{{- end }}
