{{/* Names: the release's full name, and one per component (`<fullname>-<component>`). */}}
{{- define "fraud-worker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fraud-worker.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of a component's objects; the worker's are the release's full name. */}}
{{- define "fraud-worker.componentName" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- if eq $component "worker" -}}
{{- include "fraud-worker.fullname" $root -}}
{{- else -}}
{{- printf "%s-%s" (include "fraud-worker.fullname" $root | trunc 55 | trimSuffix "-") $component -}}
{{- end -}}
{{- end -}}

{{- define "fraud-worker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fraud-worker.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; `fraud-worker.labels` takes (list $ "component"). */}}
{{- define "fraud-worker.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "fraud-worker.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "fraud-worker.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "fraud-worker.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: fraud-worker
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
{{- end -}}

{{/* Labels of the release's objects without a component (rules, dashboard, monitors). */}}
{{- define "fraud-worker.releaseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "fraud-worker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: fraud-worker
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fraud-worker.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Environment every container gets: Kafka, topics, logs, the metrics bind address. The
endpoint binds to loopback unless told; in a pod the kubelet and Prometheus come from outside. */}}
{{- define "fraud-worker.commonEnv" -}}
- name: FRAUD_KAFKA__BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | quote }}
- name: FRAUD_KAFKA__CLIENT_CONFIG
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.kafkaClientConfigKey }}
      optional: true
- name: FRAUD_TOPICS__INPUT
  value: {{ .Values.topics.input | quote }}
- name: FRAUD_TOPICS__INPUT_PARTITIONS
  value: {{ .Values.topics.inputPartitions | quote }}
- name: FRAUD_WORKER__LOG_JSON
  value: {{ .Values.logJson | quote }}
- name: FRAUD_WORKER__METRICS_HOST
  value: "0.0.0.0"
- name: FRAUD_WORKER__FLUSH_TIMEOUT_MS
  value: {{ .Values.worker.flushTimeoutMs | quote }}
{{- end -}}

{{/* A member that produces stops within batchBudgetMs + flushTimeoutMs: its grace period must
be longer, or the kubelet kills it mid-flush. Takes (list $ "component"). */}}
{{- define "fraud-worker.checkGrace" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $grace := (index $root.Values $name).terminationGracePeriodSeconds -}}
{{- $stopMs := add $root.Values.worker.flushTimeoutMs $root.Values.worker.batchBudgetMs -}}
{{- if le (mul $grace 1000 | int) ($stopMs | int) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v s) must exceed worker.flushTimeoutMs + worker.batchBudgetMs (%v ms), the longest a stopping member takes: raise it" $name $grace $stopMs) -}}
{{- end -}}
{{- end -}}

{{- define "fraud-worker.redisEnv" -}}
- name: FRAUD_REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.redisUrlKey }}
{{- end -}}

{{/* The models' volume, when one is given, mounted where FRAUD_WORKER__MODELS_DIR points. */}}
{{- define "fraud-worker.modelsEnv" -}}
{{- if .Values.models.volume }}
- name: FRAUD_WORKER__MODELS_DIR
  value: {{ .Values.models.mountPath | quote }}
{{- end }}
{{- end -}}

{{/* The user's env: chart-wide, then the component's (`(list $ .Values.<component>)`). */}}
{{- define "fraud-worker.extraEnv" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with $component.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A container's security context, volume mounts and the pod's shared parts. */}}
{{- define "fraud-worker.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- with .Values.extraEnvFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "fraud-worker.volumeMounts" -}}
{{- $root := index . 0 -}}
{{- $withModels := index . 1 -}}
volumeMounts:
  # The root filesystem is read-only: scratch space for the libraries that want one.
  - name: tmp
    mountPath: /tmp
  {{- if and $withModels $root.Values.models.volume }}
  - name: models
    mountPath: {{ $root.Values.models.mountPath }}
    readOnly: true
  {{- end }}
  {{- with $root.Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "fraud-worker.podSpec" -}}
{{- $root := index . 0 -}}
{{- $withModels := index . 1 -}}
serviceAccountName: {{ include "fraud-worker.serviceAccountName" $root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  {{- if and $withModels $root.Values.models.volume }}
  - name: models
    {{- toYaml $root.Values.models.volume | nindent 4 }}
  {{- end }}
  {{- with $root.Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Pod annotations: Prometheus' scrape annotations (for annotation-based scrapers) and the
user's. Takes (list $ port). */}}
{{- define "fraud-worker.podAnnotations" -}}
{{- $root := index . 0 -}}
{{- if $root.Values.monitoring.annotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ index . 1 | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with $root.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pods and Services carry their job's name (the component's object name): what the
monitors' jobLabel reads, so every component is its own Prometheus job, as the alerts' `by
(namespace, job)` expects. */}}
{{- define "fraud-worker.jobLabel" -}}
fraud-worker.io/job: {{ include "fraud-worker.componentName" . }}
{{- end -}}

{{- define "fraud-worker.podLabels" -}}
{{ include "fraud-worker.labels" . }}
{{ include "fraud-worker.jobLabel" . }}
{{- with (index . 0).Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* One Deployment of the chart's image. Takes a dict: root, component, values (the
component's values), command, env (YAML text), port, probes (YAML text), withModels, and
replicas (absent: KEDA owns the count). */}}
{{- define "fraud-worker.deployment" -}}
{{- $root := .root -}}
{{- $values := .values -}}
{{- $key := list $root .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "fraud-worker.componentName" $key }}
  labels:
    {{- include "fraud-worker.labels" $key | nindent 4 }}
spec:
  {{- if hasKey . "replicas" }}
  replicas: {{ .replicas }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "fraud-worker.selectorLabels" $key | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "fraud-worker.podLabels" $key | nindent 8 }}
      {{- with include "fraud-worker.podAnnotations" (list $root .port) | trim }}
      annotations:
        {{- . | nindent 8 }}
      {{- end }}
    spec:
      {{- include "fraud-worker.podSpec" (list $root .withModels) | nindent 6 }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "fraud-worker.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command:
            {{- toYaml .command | nindent 12 }}
          env:
            {{- include "fraud-worker.commonEnv" $root | nindent 12 }}
            {{- with .env | trim }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with include "fraud-worker.extraEnv" (list $root $values) | trim }}
            {{- . | nindent 12 }}
            {{- end }}
          {{- include "fraud-worker.containerSecurity" $root | nindent 10 }}
          ports:
            - name: {{ default "metrics" .portName }}
              containerPort: {{ .port }}
              protocol: TCP
          {{- .probes | nindent 10 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          {{- include "fraud-worker.volumeMounts" (list $root .withModels) | nindent 10 }}
{{- end -}}

{{/* The enabled components and their ports, as a YAML list: name, portName, servicePort,
type (the Service's). */}}
{{- define "fraud-worker.components" -}}
- {name: worker, portName: metrics, servicePort: {{ .Values.worker.metricsPort }}}
{{- range $name := list "labels" "rescore" "quality" }}
{{- $values := index $.Values $name }}
{{- if $values.enabled }}
- {name: {{ $name }}, portName: metrics, servicePort: {{ $values.metricsPort }}}
{{- end }}
{{- end }}
{{- if .Values.triage.enabled }}
- {name: triage, portName: http, servicePort: {{ .Values.triage.service.port }}, type: {{ .Values.triage.service.type }}}
{{- end }}
{{- end -}}
