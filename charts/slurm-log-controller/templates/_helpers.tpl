{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "slurm-log-controller.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name alone when it already contains the chart's. */}}
{{- define "slurm-log-controller.fullname" -}}
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

{{- define "slurm-log-controller.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "slurm-log-controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "slurm-log-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "slurm-log-controller.labels" -}}
helm.sh/chart: {{ include "slurm-log-controller.chart" . }}
{{ include "slurm-log-controller.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "slurm-log-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "slurm-log-controller.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "slurm-log-controller.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The controller's environment: one entry per non-empty key of .Values.settings, named in upper
snake case (subscriptionId -> SUBSCRIPTION_ID), lists joined with commas; then the metrics
endpoint, which must listen on all interfaces for the probes and Prometheus. The settings
without which the controller cannot start are required here, so a missing one fails rendering.
*/}}
{{- define "slurm-log-controller.env" -}}
{{- $s := .Values.settings }}
{{- $_ := required "settings.subscriptionId is required: the Azure subscription of the workspace, the DCRs and the cluster (SUBSCRIPTION_ID)" $s.subscriptionId }}
{{- $_ = required "settings.resourceGroup is required: the resource group where the DCRs are created (RESOURCE_GROUP)" $s.resourceGroup }}
{{- $_ = required "settings.workspaceName is required: the Log Analytics workspace that receives the logs (WORKSPACE_NAME)" $s.workspaceName }}
{{- if not (or $s.clusterName $s.vmId $s.vmssId (and $s.vmssRg $s.vmssName)) }}
{{- fail "settings.clusterName is required unless vmId or vmssId names a machine whose ClusterName tag gives it (CLUSTER_NAME)" }}
{{- end }}
{{- range $key, $value := $s }}
{{- if kindIs "slice" $value }}
{{- $value = join "," $value }}
{{- else if and (kindIs "float64" $value) (eq $value (floor $value)) }}
{{- /* YAML numbers arrive as float64: 1000000 must not become "1e+06" */}}
{{- $value = int64 $value }}
{{- end }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
{{ $key | snakecase | upper }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
METRICS_ADDRESS: "0.0.0.0"
METRICS_PORT: {{ .Values.metrics.port | toString | quote }}
{{- end }}
