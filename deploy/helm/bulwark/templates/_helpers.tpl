{{/* Names, labels and the pieces every bulwark container shares. */}}

{{- define "bulwark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the prefix of every object. 40 characters at most, so "<full>-keeper-headless"-like names and
the StatefulSets' pod names (plus the controller-revision label) stay within 63. */}}
{{- define "bulwark.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bulwark.clusterName" -}}
{{- default (include "bulwark.fullname" .) .Values.clusterName -}}
{{- end -}}

{{- define "bulwark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bulwark.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bulwark.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "bulwark.secretName" -}}
{{- default (printf "%s-auth" (include "bulwark.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* Labels: call with (dict "ctx" $ "component" "keeper"). */}}
{{- define "bulwark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bulwark.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bulwark.labels" -}}
{{ include "bulwark.selectorLabels" . }}
app.kubernetes.io/version: {{ default .ctx.Chart.AppVersion .ctx.Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: bulwark
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
bulwark.io/cluster: {{ include "bulwark.clusterName" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The etcd client URLs: the in-chart members by their stable DNS names, or store.endpoints. */}}
{{- define "bulwark.storeEndpoints" -}}
{{- if .Values.etcd.enabled -}}
{{- $full := include "bulwark.fullname" . -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.etcd.replicas) -}}
{{- $urls = append $urls (printf "http://%s-etcd-%d.%s-etcd-headless.%s.svc:2379" $full $i $full $.Release.Namespace) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- if not .Values.store.endpoints -}}
{{- fail "store.endpoints: set the endpoints of your etcd, or etcd.enabled=true" -}}
{{- end -}}
{{- join "," .Values.store.endpoints -}}
{{- end -}}
{{- end -}}

{{/* The store settings every bulwark program takes, as BULWARK_* environment variables. */}}
{{- define "bulwark.storeEnv" -}}
- name: BULWARK_CLUSTER_NAME
  value: {{ include "bulwark.clusterName" . | quote }}
- name: BULWARK_STORE_ENDPOINTS
  value: {{ include "bulwark.storeEndpoints" . | quote }}
- name: BULWARK_STORE_PREFIX
  value: {{ .Values.store.prefix | quote }}
- name: BULWARK_STORE_TIMEOUT
  value: {{ .Values.store.timeout | quote }}
- name: BULWARK_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if and (not .Values.etcd.enabled) .Values.store.tls.secretName }}
{{- if .Values.store.tls.caKey }}
- name: BULWARK_STORE_CA_FILE
  value: /etc/bulwark/store-tls/{{ .Values.store.tls.caKey }}
{{- end }}
{{- if .Values.store.tls.certKey }}
- name: BULWARK_STORE_CERT_FILE
  value: /etc/bulwark/store-tls/{{ .Values.store.tls.certKey }}
{{- end }}
{{- if .Values.store.tls.keyKey }}
- name: BULWARK_STORE_KEY_FILE
  value: /etc/bulwark/store-tls/{{ .Values.store.tls.keyKey }}
{{- end }}
{{- end }}
{{- if .Values.store.auth.user }}
- name: BULWARK_STORE_USER
  value: {{ .Values.store.auth.user | quote }}
- name: BULWARK_STORE_PASSWORD_FILE
  value: /etc/bulwark/store-auth/{{ .Values.store.auth.passwordKey }}
{{- end }}
{{- end -}}

{{/* Volumes and mounts for the store's TLS files and password. */}}
{{- define "bulwark.storeVolumeMounts" -}}
{{- if and (not .Values.etcd.enabled) .Values.store.tls.secretName }}
- name: store-tls
  mountPath: /etc/bulwark/store-tls
  readOnly: true
{{- end }}
{{- if .Values.store.auth.user }}
- name: store-auth
  mountPath: /etc/bulwark/store-auth
  readOnly: true
{{- end }}
{{- end -}}

{{- define "bulwark.storeVolumes" -}}
{{- if and (not .Values.etcd.enabled) .Values.store.tls.secretName }}
- name: store-tls
  secret:
    secretName: {{ .Values.store.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- if .Values.store.auth.user }}
- name: store-auth
  secret:
    secretName: {{ required "store.auth.passwordSecretName: the Secret with the etcd user's password" .Values.store.auth.passwordSecretName }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* Security context of every bulwark container. */}}
{{- define "bulwark.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "bulwark.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
fsGroupChangePolicy: {{ .Values.podSecurityContext.fsGroupChangePolicy }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Anti-affinity: call with (dict "ctx" $ "component" "keeper" "mode" "soft"). */}}
{{- define "bulwark.antiAffinity" -}}
podAntiAffinity:
{{- if eq .mode "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "bulwark.selectorLabels" . | nindent 10 }}
{{- else if eq .mode "soft" }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "bulwark.selectorLabels" . | nindent 12 }}
{{- else }}
{{- fail (printf "podAntiAffinity of %s: \"soft\" or \"hard\", not %q" .component .mode) }}
{{- end }}
{{- end -}}

{{/* Prometheus scrape annotations: call with (dict "ctx" $ "port" 8431). */}}
{{- define "bulwark.scrapeAnnotations" -}}
{{- if .ctx.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}
