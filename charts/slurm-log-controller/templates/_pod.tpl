{{/*
The controller's pod, for the Deployment (mode daemon: `run`, with its metrics port and probes)
and the CronJob (mode cronjob: `run --once`, which serves nothing, and is not restarted in place:
the next scheduled pass tries again).
*/}}
{{- define "slurm-log-controller.pod" -}}
{{- $once := eq .Values.mode "cronjob" -}}
metadata:
  annotations:
    # A new pod when its settings change.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "slurm-log-controller.labels" . | nindent 4 }}
    {{- if .Values.azure.workloadIdentity.enabled }}
    azure.workload.identity/use: "true"
    {{- end }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- if $once }}
  restartPolicy: Never
  {{- end }}
  serviceAccountName: {{ include "slurm-log-controller.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: controller
      image: {{ include "slurm-log-controller.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - run
        {{- if $once }}
        - --once
        {{- end }}
        {{- if .Values.components }}
        - --config
        - /etc/slurm-log-controller/components.yaml
        {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "slurm-log-controller.fullname" . }}
        {{- with .Values.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.extraEnv }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if not $once }}
      ports:
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
          protocol: TCP
      {{- with .Values.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        # The root filesystem is read-only; Python and the Azure SDK may want a temp dir.
        - name: tmp
          mountPath: /tmp
        {{- if .Values.components }}
        - name: components
          mountPath: /etc/slurm-log-controller
          readOnly: true
        {{- end }}
    {{- if .Values.mcp.enabled }}
    {{- $s := .Values.settings }}
    {{- if $once }}
    {{- fail "mcp.enabled with mode cronjob: the MCP server runs beside the daemon (mode daemon), not in a pass that exits" }}
    {{- end }}
    {{- if eq (toString $s.mcpAuth) "local-only" }}
    {{- fail "mcp.enabled with settings.mcpAuth=local-only: local-only listens on loopback, which nothing outside the pod reaches; use entra (mcpTenantId, mcpAudience)" }}
    {{- end }}
    {{- if not (and $s.mcpTenantId $s.mcpAudience $s.mcpAllowedHosts) }}
    {{- fail "mcp.enabled needs settings.mcpTenantId, mcpAudience (whose Entra ID tokens it accepts) and mcpAllowedHosts (the Host headers clients use)" }}
    {{- end }}
    # The MCP server: read-only, beside the controller, with the same settings and identity.
    - name: mcp
      image: {{ include "slurm-log-controller.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - mcp
        - --transport
        - http
        {{- if .Values.components }}
        - --config
        - /etc/slurm-log-controller/components.yaml
        {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "slurm-log-controller.fullname" . }}
        {{- with .Values.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: MCP_ADDRESS
          value: "0.0.0.0"
        - name: MCP_PORT
          value: {{ .Values.mcp.port | toString | quote }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: mcp
          containerPort: {{ .Values.mcp.port }}
          protocol: TCP
      readinessProbe:
        tcpSocket:
          port: mcp
        periodSeconds: 10
      resources:
        {{- toYaml .Values.mcp.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if .Values.components }}
        - name: components
          mountPath: /etc/slurm-log-controller
          readOnly: true
        {{- end }}
    {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if .Values.components }}
    - name: components
      configMap:
        name: {{ include "slurm-log-controller.fullname" . }}-components
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
