//! The create request in the shape the docker CLI sends it. The daemon keeps what it is
//! sent, and `inspect` shows it back: a field docker always sends (`RestartPolicy.Name:
//! "no"`, `MemorySwappiness: -1`, `Dns: []`) must be sent by berth too, and a list docker
//! leaves nil (`Binds`, `CapAdd`) must be `null`, not `[]`, or scripts reading
//! `inspect` see a difference.

use serde_json::{Map, Value, json};

/// The zero values of docker's container.Config and HostConfig as its CLI marshals them
/// (Go's nil slices and maps are `null`; the flag defaults `[]`, `{}`, `-1`, `"no"`).
const ZERO: &str = r#"{
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
    "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false,
    "StdinOnce": false, "Env": null, "Cmd": null, "Image": "", "Volumes": {},
    "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": {},
    "HostConfig": {
        "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default", "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": false,
        "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0], "CapAdd": null,
        "CapDrop": null, "CgroupnsMode": "", "Dns": [], "DnsOptions": [],
        "DnsSearch": [], "ExtraHosts": null, "GroupAdd": null, "IpcMode": "",
        "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "", "Privileged": false,
        "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
        "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "Isolation": "", "CpuShares": 0,
        "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
        "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0,
        "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": null,
        "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": -1, "OomKillDisable": false, "PidsLimit": 0, "Ulimits": [],
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": null, "ReadonlyPaths": null
    }
}"#;

fn zero() -> Value {
    // ZERO is a constant checked by the tests: it always parses.
    serde_json::from_str(ZERO).unwrap_or_else(|_| json!({}))
}

/// Lists docker sends as `null` when no flag filled them.
const NIL_WHEN_EMPTY: &[&str] = &[
    "/Env",
    "/HostConfig/Binds",
    "/HostConfig/CapAdd",
    "/HostConfig/CapDrop",
];

/// `body` (berth's create request) over docker's zero values: every field docker sends
/// is present, empty lists docker leaves nil are `null`, and an empty `ExposedPorts`
/// (docker's `omitempty`) is left out.
pub fn docker_shape(body: Value) -> Value {
    let mut out = zero();
    merge(&mut out, body);
    for p in NIL_WHEN_EMPTY {
        if let Some(v) = out.pointer_mut(p)
            && v.as_array().is_some_and(Vec::is_empty)
        {
            *v = Value::Null;
        }
    }
    if let Some(o) = out.as_object_mut()
        && o.get("ExposedPorts")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        o.remove("ExposedPorts");
    }
    out
}

/// Sets every value of `from` in `into`, objects key by key.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_values_parse() {
        assert!(serde_json::from_str::<Value>(ZERO).is_ok());
    }

    #[test]
    fn fills_docker_zero_values_and_nils_empty_lists() {
        let b = docker_shape(json!({
            "Image": "x", "Env": [], "ExposedPorts": {},
            "HostConfig": {"Binds": [], "CapAdd": ["CAP_X"], "Memory": 5,
                           "LogConfig": {"Type": "none"}},
        }));
        assert_eq!(b["Image"], "x");
        assert_eq!(b["Env"], Value::Null);
        assert!(b.get("ExposedPorts").is_none());
        assert_eq!(b["HostConfig"]["Binds"], Value::Null);
        assert_eq!(b["HostConfig"]["CapAdd"], json!(["CAP_X"]));
        assert_eq!(b["HostConfig"]["Memory"], 5);
        assert_eq!(b["HostConfig"]["MemorySwappiness"], -1);
        assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert_eq!(
            b["HostConfig"]["LogConfig"],
            json!({"Type": "none", "Config": {}})
        );
    }
}
