{{/* Names ---------------------------------------------------------------- */}}

{{- define "recsys.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "recsys.fullname" -}}
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

{{/* Name of one component: (dict "root" $ "component" "gateway") */}}
{{- define "recsys.componentName" -}}
{{- printf "%s-%s" (include "recsys.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "recsys.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels --------------------------------------------------------------- */}}

{{/* Selector labels of a component: (dict "root" $ "component" "gateway") */}}
{{- define "recsys.selectorLabels" -}}
app.kubernetes.io/name: {{ include "recsys.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of a component: (dict "root" $ "component" "gateway") */}}
{{- define "recsys.labels" -}}
helm.sh/chart: {{ include "recsys.chart" .root }}
{{ include "recsys.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: recsys
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels selecting every pod of this release (NetworkPolicy default deny). */}}
{{- define "recsys.releaseSelector" -}}
app.kubernetes.io/name: {{ include "recsys.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Images --------------------------------------------------------------- */}}

{{/* (dict "root" $ "image" .Values.services.gateway.image) */}}
{{- define "recsys.image" -}}
{{- $tag := .image.tag | default .root.Chart.AppVersion -}}
{{- if hasPrefix "sha256:" $tag -}}
{{- printf "%s@%s" .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "recsys.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ .name }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Security ------------------------------------------------------------- */}}

{{/* Pod security context; (dict "uid" 10001) */}}
{{- define "recsys.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .uid }}
  runAsGroup: {{ .uid }}
  fsGroup: {{ .uid }}
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Container security context; (dict "uid" 10001) */}}
{{- define "recsys.containerSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .uid }}
  runAsGroup: {{ .uid }}
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  privileged: false
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Topology spread for a selector: (dict "root" $ "selector" (include ...)) */}}
{{- define "recsys.topologySpread" -}}
{{- $ts := .root.Values.topologySpread -}}
{{- if $ts.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ $ts.maxSkew }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ $ts.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- .selector | nindent 8 }}
{{- if $ts.zoneSpread }}
  - maxSkew: {{ $ts.maxSkew }}
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- .selector | nindent 8 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Secrets -------------------------------------------------------------- */}}

{{- define "recsys.devSecretName" -}}
{{- printf "%s-dev" (include "recsys.fullname" .) -}}
{{- end -}}

{{/* env var from a secret reference: (dict "root" $ "name" "DATABASE_URL" "ref" "databaseUrl") */}}
{{- define "recsys.secretEnv" -}}
{{- $ref := index .root.Values.secrets .ref -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
{{- if .root.Values.secrets.create }}
      name: {{ include "recsys.devSecretName" .root }}
      key: {{ .ref }}
{{- else }}
      name: {{ $ref.existingSecret }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/* URLs ----------------------------------------------------------------- */}}

{{- define "recsys.serviceUrl" -}}
{{- printf "http://%s:8080" (include "recsys.componentName" .) -}}
{{- end -}}

{{- define "recsys.mlflowUrl" -}}
{{- printf "http://%s:%d" (include "recsys.componentName" (dict "root" . "component" "mlflow")) (int .Values.mlflow.port) -}}
{{- end -}}

{{- define "recsys.devDatabaseUrl" -}}
{{- if .Values.secrets.dev.databaseUrl -}}
{{- .Values.secrets.dev.databaseUrl -}}
{{- else -}}
{{- $a := .Values.postgresql.auth -}}
{{- printf "postgresql://%s:%s@%s:5432/%s" $a.username $a.password (include "recsys.componentName" (dict "root" . "component" "postgresql")) $a.database -}}
{{- end -}}
{{- end -}}

{{- define "recsys.devMlflowBackendStoreUri" -}}
{{- if .Values.secrets.dev.mlflowBackendStoreUri -}}
{{- .Values.secrets.dev.mlflowBackendStoreUri -}}
{{- else -}}
{{- $a := .Values.postgresql.auth -}}
{{- printf "postgresql://%s:%s@%s:5432/%s" $a.username $a.password (include "recsys.componentName" (dict "root" . "component" "postgresql")) $a.mlflowDatabase -}}
{{- end -}}
{{- end -}}

{{- define "recsys.devRedisUrl" -}}
{{- if .Values.secrets.dev.redisUrl -}}
{{- .Values.secrets.dev.redisUrl -}}
{{- else -}}
{{- printf "redis://%s:6379/0" (include "recsys.componentName" (dict "root" . "component" "redis")) -}}
{{- end -}}
{{- end -}}

{{/* Which services need which stores (docs/architecture.md). */}}
{{- define "recsys.needsPostgres" -}}
{{- if has . (list "event-ingest" "feature-serving" "candidate-gen") }}true{{ end -}}
{{- end -}}
{{- define "recsys.needsRedis" -}}
{{- if has . (list "gateway" "event-ingest" "feature-serving" "candidate-gen") }}true{{ end -}}
{{- end -}}

{{/* Experiments routed by Istio to per-variant workloads. */}}
{{- define "recsys.variantRouting" -}}
{{- if and .Values.istio.virtualService.enabled .Values.istio.destinationRule.enabled }}true{{ end -}}
{{- end -}}

{{/* Feast settings of the processes that use the feature store (docs/feature-store.md):
feature_repo/k8s/feature_store.yaml, FEAST_* derived from DATABASE_URL / REDIS_URL. */}}
{{- define "recsys.feastEnv" -}}
- name: FEAST_ENVIRONMENT
  value: k8s
- name: FEAST_PROJECT
  value: {{ .Values.feast.project | quote }}
- name: FEAST_REPO_PATH
  value: {{ .Values.feast.repoPath | quote }}
- name: FEATURE_BACKEND
  value: {{ .Values.feast.backend | quote }}
{{- end -}}

{{/* Environment of the batch-jobs image. */}}
{{- define "recsys.jobsEnv" -}}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: REDIS_PREFIX
  value: {{ .Values.config.redisPrefix | quote }}
- name: MLFLOW_TRACKING_URI
  value: {{ include "recsys.mlflowUrl" . | quote }}
{{ include "recsys.feastEnv" . }}
- name: HOME
  value: /tmp
{{ include "recsys.secretEnv" (dict "root" . "name" "DATABASE_URL" "ref" "databaseUrl") }}
{{ include "recsys.secretEnv" (dict "root" . "name" "REDIS_URL" "ref" "redisUrl") }}
{{- end -}}

{{/* Pod spec of a batch job: (dict "root" $ "component" "train" "args" (list ...) "serviceAccount" true) */}}
{{- define "recsys.jobPodSpec" -}}
{{- $root := .root -}}
{{- $j := $root.Values.jobs -}}
{{- if .serviceAccount }}
serviceAccountName: {{ include "recsys.componentName" (dict "root" $root "component" "jobs") }}
{{- end }}
automountServiceAccountToken: false
restartPolicy: Never
{{- include "recsys.imagePullSecrets" $root }}
{{ include "recsys.podSecurityContext" (dict "uid" 10001) }}
{{- with $j.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $j.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: {{ .component }}
    image: {{ include "recsys.image" (dict "root" $root "image" $j.image) }}
    imagePullPolicy: {{ $root.Values.imagePullPolicy }}
    command:
      {{- toYaml .command | nindent 6 }}
    env:
      {{- include "recsys.jobsEnv" $root | nindent 6 }}
    resources:
      {{- toYaml $j.resources | nindent 6 }}
    {{- include "recsys.containerSecurityContext" (dict "uid" 10001) | nindent 4 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  - name: tmp
    emptyDir: {}
{{- end -}}
