{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "berth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "berth.secretName" -}}
{{- default (include "berth.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* The token realm: publicURL, else the first Ingress host, else unset. */}}
{{- define "berth.tokenRealm" -}}
{{- if .Values.publicURL }}
{{- printf "%s/service/token" (trimSuffix "/" .Values.publicURL) }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "%s://%s/service/token" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) (first .Values.ingress.hosts) }}
{{- end }}
{{- end }}

{{/* Refuse settings that cannot work before anything is deployed. */}}
{{- define "berth.validate" -}}
{{- $storage := toString (.Values.config.storage | default "fs") }}
{{- if eq $storage "s3" }}
{{- if not (index .Values.config "s3-endpoint") }}{{ fail "config.s3-endpoint is required with config.storage s3" }}{{ end }}
{{- if not (index .Values.config "s3-bucket") }}{{ fail "config.s3-bucket is required with config.storage s3" }}{{ end }}
{{- if .Values.sharedVolume.enabled }}{{ fail "sharedVolume.enabled needs config.storage fs (blobs are in the bucket with s3)" }}{{ end }}
{{- else if and (gt (int .Values.replicaCount) 1) (not .Values.sharedVolume.enabled) }}
{{- fail "replicaCount > 1 needs config.storage s3 or sharedVolume.enabled (a ReadWriteMany volume): the replicas must share their blobs" }}
{{- end }}
{{- end }}
