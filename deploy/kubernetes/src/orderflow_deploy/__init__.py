"""Deployment tooling: the Kubernetes resources that follow from deploy/topics.yaml (Strimzi
KafkaTopics and KafkaUsers, KEDA ScaledObjects), generated so they never drift from it."""
