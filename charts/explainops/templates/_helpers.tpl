{{/* Chart name, overridable. */}}
{{- define "explainops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full object name prefix: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "explainops.fullname" -}}
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

{{- define "explainops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object, without the component. */}}
{{- define "explainops.baseLabels" -}}
helm.sh/chart: {{ include "explainops.chart" . }}
app.kubernetes.io/name: {{ include "explainops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: explainops
{{- end }}

{{/* Labels of the operator's objects. */}}
{{- define "explainops.labels" -}}
{{ include "explainops.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels that select the operator pod; never change them on upgrade (Deployment selectors are immutable). */}}
{{- define "explainops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "explainops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "explainops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-operator" (include "explainops.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}: the digest wins, the tag defaults to appVersion. */}}
{{- define "explainops.image" -}}
{{- $image := index . 0 }}
{{- $root := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/*
The operator's permissions, shared by the ClusterRole (cluster-wide) and each namespaced Role.
Only the calls the operator makes; no wildcards, no secrets, no configmaps.
*/}}
{{- define "explainops.rbacRules" -}}
# ExplainableModels: kopf lists and watches them and patches its progress annotations; handlers read them.
- apiGroups: ["explainops.dev"]
  resources: ["explainablemodels"]
  verbs: ["get", "list", "watch", "patch"]
# Status is written with merge patches only.
- apiGroups: ["explainops.dev"]
  resources: ["explainablemodels/status"]
  verbs: ["patch"]
# Children carry ownerReferences with blockOwnerDeletion; where OwnerReferencesPermissionEnforcement
# is on (it is on the local node, and on OpenShift) that needs update on the owner's finalizers.
- apiGroups: ["explainops.dev"]
  resources: ["explainablemodels/finalizers"]
  verbs: ["update"]
# The serving child: server-side apply (patch, and create when the apply creates it); watched to mirror readiness.
# delete: never called, but OwnerReferencesPermissionEnforcement allows an apply that sets ownerReferences
# only to a user who could delete the object.
- apiGroups: ["serving.kserve.io"]
  resources: ["inferenceservices"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Retraining Jobs: created per trigger (read back when the create answers 409), then polled by name.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "create"]
# The trainer's result: its Pods are listed by job-name label to read the termination message.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
# kopf and the handlers report progress as Events.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}
