{{/*
Deployment of one service.
(dict "root" $ "name" "ranking" "svc" .Values.services.ranking
      "track" "stable" "experiment" "" "variant" "" "override" (dict))
"override" (a variant's workload) may set image, env and replicaCount.
*/}}
{{- define "recsys.serviceDeployment" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $svc := .svc -}}
{{- $ov := .override | default dict -}}
{{- $stable := eq .track "stable" -}}
{{- $image := $svc.image -}}
{{- with $ov.image }}{{ $image = merge (deepCopy .) (deepCopy $svc.image) }}{{ end -}}
{{- $sel := include "recsys.selectorLabels" (dict "root" $root "component" $name) -}}
{{- $deployName := include "recsys.componentName" (dict "root" $root "component" $name) -}}
{{- if not $stable }}
{{- $deployName = printf "%s-%s" $deployName .track | trunc 63 | trimSuffix "-" -}}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $deployName }}
  labels:
    {{- include "recsys.labels" (dict "root" $root "component" $name) | nindent 4 }}
    recsys.io/track: {{ .track }}
spec:
  {{- if not (and $stable $svc.autoscaling.enabled) }}
  replicas: {{ $ov.replicaCount | default $svc.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- $sel | nindent 6 }}
      recsys.io/track: {{ .track }}
  template:
    metadata:
      labels:
        {{- include "recsys.labels" (dict "root" $root "component" $name) | nindent 8 }}
        recsys.io/track: {{ .track }}
        {{- if .experiment }}
        recsys.io/experiment: {{ .experiment }}
        recsys.io/variant: {{ .variant }}
        {{- end }}
      annotations:
        {{- if eq $name "gateway" }}
        checksum/experiments: {{ include "recsys.experimentsJson" $root | sha256sum }}
        {{- end }}
        {{- if eq $name "ranking" }}
        checksum/ranking-profiles: {{ include "recsys.rankingProfilesJson" $root | sha256sum }}
        {{- end }}
        {{- with $svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "recsys.componentName" (dict "root" $root "component" $name) }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds }}
      {{- include "recsys.imagePullSecrets" $root | nindent 6 }}
      {{- include "recsys.podSecurityContext" (dict "uid" 10001) | nindent 6 }}
      {{- include "recsys.topologySpread" (dict "root" $root "selector" (printf "%s\nrecsys.io/track: %s" $sel .track)) | nindent 6 }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "recsys.image" (dict "root" $root "image" $image) }}
          imagePullPolicy: {{ $root.Values.imagePullPolicy }}
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          env:
            - name: HOST
              value: "0.0.0.0"
            - name: PORT
              value: "8080"
            - name: LOG_LEVEL
              value: {{ $root.Values.config.logLevel | quote }}
            - name: REDIS_PREFIX
              value: {{ $root.Values.config.redisPrefix | quote }}
            - name: HTTP_TIMEOUT_SECONDS
              value: {{ $root.Values.config.httpTimeoutSeconds | quote }}
            - name: SHUTDOWN_GRACE_SECONDS
              value: {{ $root.Values.config.shutdownGraceSeconds | quote }}
            - name: EVENT_INGEST_URL
              value: {{ include "recsys.serviceUrl" (dict "root" $root "component" "event-ingest") }}
            - name: FEATURE_SERVING_URL
              value: {{ include "recsys.serviceUrl" (dict "root" $root "component" "feature-serving") }}
            - name: CANDIDATE_GEN_URL
              value: {{ include "recsys.serviceUrl" (dict "root" $root "component" "candidate-gen") }}
            - name: RANKING_URL
              value: {{ include "recsys.serviceUrl" (dict "root" $root "component" "ranking") }}
            {{- if $root.Values.config.otlpEndpoint }}
            - name: OTEL_EXPORTER_OTLP_ENDPOINT
              value: {{ $root.Values.config.otlpEndpoint | quote }}
            - name: OTEL_SERVICE_NAME
              value: {{ $name }}
            {{- end }}
            {{- if .experiment }}
            - name: RECSYS_EXPERIMENT
              value: {{ .experiment }}
            - name: RECSYS_VARIANT
              value: {{ .variant }}
            {{- end }}
            {{- if include "recsys.needsPostgres" $name }}
            {{- include "recsys.secretEnv" (dict "root" $root "name" "DATABASE_URL" "ref" "databaseUrl") | nindent 12 }}
            {{- end }}
            {{- if include "recsys.needsRedis" $name }}
            {{- include "recsys.secretEnv" (dict "root" $root "name" "REDIS_URL" "ref" "redisUrl") | nindent 12 }}
            {{- end }}
            {{- if eq $name "gateway" }}
            {{- include "recsys.secretEnv" (dict "root" $root "name" "RECSYS_API_KEYS" "ref" "apiKeys") | nindent 12 }}
            {{- include "recsys.secretEnv" (dict "root" $root "name" "RECSYS_ADMIN_KEY" "ref" "adminKey") | nindent 12 }}
            - name: EXPERIMENTS_PATH
              value: /etc/recsys/experiments/experiments.json
            {{- end }}
            {{- if has $name (list "feature-serving" "event-ingest") }}
            {{- include "recsys.feastEnv" $root | nindent 12 }}
            {{- end }}
            {{- if eq $name "ranking" }}
            - name: RANKING_PROFILES_PATH
              value: /etc/recsys/ranking/profiles.json
            {{- end }}
            {{- if and (eq $name "candidate-gen") $root.Values.mlflow.enabled }}
            - name: MLFLOW_TRACKING_URI
              value: {{ include "recsys.mlflowUrl" $root | quote }}
            {{- end }}
            {{- range $k, $v := (merge (deepCopy ($ov.env | default dict)) (deepCopy $svc.env)) }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          {{- include "recsys.containerSecurityContext" (dict "uid" 10001) | nindent 10 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if eq $name "gateway" }}
            - name: experiments
              mountPath: /etc/recsys/experiments
              readOnly: true
            {{- end }}
            {{- if eq $name "ranking" }}
            - name: ranking-profiles
              mountPath: /etc/recsys/ranking
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{- if eq $name "gateway" }}
        - name: experiments
          configMap:
            name: {{ include "recsys.componentName" (dict "root" $root "component" "experiments") }}
        {{- end }}
        {{- if eq $name "ranking" }}
        - name: ranking-profiles
          configMap:
            name: {{ include "recsys.componentName" (dict "root" $root "component" "ranking-profiles") }}
        {{- end }}
{{- end -}}

{{/* The experiments as the gateway reads them (no workload details). */}}
{{- define "recsys.experimentsJson" -}}
{{- $exps := list -}}
{{- range .Values.experiments -}}
{{- $vs := list -}}
{{- range .variants -}}
{{- $vs = append $vs (dict "name" .name "weight" .weight) -}}
{{- end -}}
{{- $exps = append $exps (dict "name" .name "salt" .salt "variants" $vs) -}}
{{- end -}}
{{- dict "experiments" $exps | toPrettyJson -}}
{{- end -}}

{{/* files/ranking-profiles.json merged with rankingProfiles.overrides. */}}
{{- define "recsys.rankingProfilesJson" -}}
{{- $raw := .Files.Get "files/ranking-profiles.json" -}}
{{- $base := dict -}}
{{- if $raw }}{{ $base = fromJson $raw }}{{ end -}}
{{- mergeOverwrite $base (deepCopy .Values.rankingProfiles.overrides) | toPrettyJson -}}
{{- end -}}

{{/* Per-variant workloads as a list of dicts: experiment, variant, track, service, override. */}}
{{- define "recsys.variantWorkloads" -}}
{{- $out := list -}}
{{- range $e := .Values.experiments -}}
{{- range $v := $e.variants -}}
{{- range $svc, $ov := ($v.workloads | default dict) -}}
{{- $out = append $out (dict "experiment" $e.name "variant" $v.name "track" (printf "%s-%s" $e.name $v.name) "service" $svc "override" $ov) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- dict "items" $out | toJson -}}
{{- end -}}
