#!/usr/bin/env bash
# Strimzi's CRDs for Kafka, KafkaNodePool and KafkaTopic, generated from the API classes of
# .local/jars/strimzi (ops/strimzi/pom.xml, Strimzi 1.2.0) by the generator and with the
# arguments of Strimzi's own build, into .local/schemas/strimzi; each file must match its
# pinned sha256 (ops/strimzi/crds.sha256). tests/unit/deploy validates the manifests under
# deploy/kubernetes against their openAPIV3Schema. The generator needs Java 21 or newer:
# `java` if it is, else the newest JDK under /usr/lib/jvm. Skipped when already complete.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

dest="$LOCAL/schemas/strimzi"
stamp=$(cat "$ROOT/ops/strimzi/pom.xml" "$ROOT/ops/strimzi/crds.sha256" "$0" | sha256sum | cut -c1-16)
[ "$(cat "$dest/.complete" 2>/dev/null)" = "$stamp" ] && exit 0

java_major() { "$1" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]}'; }
java_bin=""
for candidate in "$(command -v java || true)" $(ls -d /usr/lib/jvm/*/bin/java 2>/dev/null | sort -rV); do
  [ -x "$candidate" ] && [ "$(java_major "$candidate")" -ge 21 ] && { java_bin="$candidate"; break; }
done
if [ -z "$java_bin" ]; then
  warn "no Java 21 or newer: Strimzi's CRDs were not generated, tests/unit/deploy will fail"
  exit 0
fi

say "generating Strimzi's CRDs (schemas of the Kubernetes manifests)"
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
model=io.strimzi.api.kafka.model
"$java_bin" -cp "$LOCAL/jars/strimzi/*" io.strimzi.crdgenerator.CrdGenerator \
  --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
  --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
  "$model.kafka.Kafka=$dest.tmp/kafka.yaml" \
  "$model.nodepool.KafkaNodePool=$dest.tmp/kafkanodepool.yaml" \
  "$model.topic.KafkaTopic=$dest.tmp/kafkatopic.yaml" >"$LOGS/strimzi-crds.log" 2>&1 \
  || die "Strimzi's CRD generator failed, see $LOGS/strimzi-crds.log"
(cd "$dest.tmp" && sha256sum --quiet -c "$ROOT/ops/strimzi/crds.sha256") >>"$LOGS/strimzi-crds.log" 2>&1 \
  || die "Strimzi's generated CRDs differ from their pinned sha256 (ops/strimzi/crds.sha256), see $LOGS/strimzi-crds.log"
rm -rf "$dest" && mv "$dest.tmp" "$dest" && echo "$stamp" >"$dest/.complete"
