# The required-labels part of the envops label convention, as a conftest
# policy: every workload and its pod template carry name, app, tier and role.
package main

required := {"name", "app", "tier", "role"}

templated := {"ReplicationController", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"}

workload := templated | {"Pod", "CronJob"}

missing(labels) := {l | some l in required; not present(labels, l)}

present(labels, l) if labels[l] != ""

controller_labels := object.get(input, ["metadata", "labels"], {})

template_labels := object.get(input, ["spec", "template", "metadata", "labels"], {}) if {
	templated[input.kind]
} else := object.get(input, ["spec", "jobTemplate", "spec", "template", "metadata", "labels"], {}) if {
	input.kind == "CronJob"
}

deny contains msg if {
	workload[input.kind]
	m := missing(controller_labels)
	count(m) > 0
	msg := sprintf("%s/%s: the controller is missing required labels %v", [input.kind, input.metadata.name, sort(m)])
}

deny contains msg if {
	workload[input.kind]
	input.kind != "Pod"
	m := missing(template_labels)
	count(m) > 0
	msg := sprintf("%s/%s: the pod template is missing required labels %v", [input.kind, input.metadata.name, sort(m)])
}
