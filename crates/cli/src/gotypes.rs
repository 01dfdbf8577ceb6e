//! The docker CLI decodes inspect documents into the Engine API's Go structs before it
//! runs a `--format` template on them, so `{{json .Config}}` prints the struct's fields
//! in declaration order, with the zero value of every field the daemon left out, without
//! `omitempty` fields that are empty and without fields the struct does not have (Go
//! sorts only map keys). This module holds those structs' shapes and gives template
//! values the same shape; [`shape_of`] tells the `json` function a struct's field order
//! and which empty lists and maps are Go's nil.
//!
//! A field is `Name:type`, `?` at the end for `omitempty`. Types: `s` string, `n` number,
//! `b` bool, `t` time.Time (RFC 3339, trailing zeros of the fraction dropped as Go writes
//! it), `d` time.Duration (nanoseconds), `a` anything (kept as sent, zero null), `@T` the struct T below, `[T` a slice,
//! `{T` a map with string keys, `*T` a pointer. `(` and `)` around fields mark an embedded
//! struct (flat in JSON, a struct of its own when fmt prints the outer one; `(*` an
//! embedded pointer, which fmt prints as an address).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gotmpl::Value;
use serde_json::Value as Json;

type Struct = (&'static str, &'static [&'static str]);

const STRUCTS: &[Struct] = &[
    // container.InspectResponse (its embedded *ContainerJSONBase inlined).
    (
        "Container",
        &[
            "(*",
            "ID=Id:s",
            "Created:s",
            "Path:s",
            "Args:[s",
            "State:*@State",
            "Image:s",
            "ResolvConfPath:s",
            "HostnamePath:s",
            "HostsPath:s",
            "LogPath:s",
            "Name:s",
            "RestartCount:n",
            "Driver:s",
            "Platform:s",
            "MountLabel:s",
            "ProcessLabel:s",
            "AppArmorProfile:s",
            "ExecIDs:[s",
            "HostConfig:*@HostConfig",
            "GraphDriver:@DriverData",
            "SizeRw:*n?",
            "SizeRootFs:*n?",
            ")",
            "Mounts:[@MountPoint",
            "Config:*@Config",
            "NetworkSettings:*@NetworkSettings",
            "ImageManifestDescriptor:*@Descriptor?",
        ],
    ),
    (
        "State",
        &[
            "Status:s",
            "Running:b",
            "Paused:b",
            "Restarting:b",
            "OOMKilled:b",
            "Dead:b",
            "Pid:n",
            "ExitCode:n",
            "Error:s",
            "StartedAt:s",
            "FinishedAt:s",
            "Health:*@Health?",
        ],
    ),
    (
        "Health",
        &["Status:s", "FailingStreak:n", "Log:[*@HealthcheckResult"],
    ),
    (
        "HealthcheckResult",
        &["Start:t", "End:t", "ExitCode:n", "Output:s"],
    ),
    // HostConfig with Resources inlined where Go embeds it.
    (
        "HostConfig",
        &[
            "Binds:[s",
            "ContainerIDFile:s",
            "LogConfig:@LogConfig",
            "NetworkMode:s",
            "PortBindings:{[@PortBinding",
            "RestartPolicy:@RestartPolicy",
            "AutoRemove:b",
            "VolumeDriver:s",
            "VolumesFrom:[s",
            "ConsoleSize:a",
            "Annotations:{s?",
            "CapAdd:[s",
            "CapDrop:[s",
            "CgroupnsMode:s",
            "DNS=Dns:[s",
            "DNSOptions=DnsOptions:[s",
            "DNSSearch=DnsSearch:[s",
            "ExtraHosts:[s",
            "GroupAdd:[s",
            "IpcMode:s",
            "Cgroup:s",
            "Links:[s",
            "OomScoreAdj:n",
            "PidMode:s",
            "Privileged:b",
            "PublishAllPorts:b",
            "ReadonlyRootfs:b",
            "SecurityOpt:[s",
            "StorageOpt:{s?",
            "Tmpfs:{s?",
            "UTSMode:s",
            "UsernsMode:s",
            "ShmSize:n",
            "Sysctls:{s?",
            "Runtime:s?",
            "Isolation:s",
            "(",
            "CPUShares=CpuShares:n",
            "Memory:n",
            "NanoCPUs=NanoCpus:n",
            "CgroupParent:s",
            "BlkioWeight:n",
            "BlkioWeightDevice:[*@WeightDevice",
            "BlkioDeviceReadBps:[*@ThrottleDevice",
            "BlkioDeviceWriteBps:[*@ThrottleDevice",
            "BlkioDeviceReadIOps:[*@ThrottleDevice",
            "BlkioDeviceWriteIOps:[*@ThrottleDevice",
            "CPUPeriod=CpuPeriod:n",
            "CPUQuota=CpuQuota:n",
            "CPURealtimePeriod=CpuRealtimePeriod:n",
            "CPURealtimeRuntime=CpuRealtimeRuntime:n",
            "CpusetCpus:s",
            "CpusetMems:s",
            "Devices:[@DeviceMapping",
            "DeviceCgroupRules:[s",
            "DeviceRequests:[@DeviceRequest",
            "KernelMemory:n?",
            "KernelMemoryTCP:n?",
            "MemoryReservation:n",
            "MemorySwap:n",
            "MemorySwappiness:*n",
            "OomKillDisable:*b",
            "PidsLimit:*n",
            "Ulimits:[*@Ulimit",
            "CPUCount=CpuCount:n",
            "CPUPercent=CpuPercent:n",
            "IOMaximumIOps:n",
            "IOMaximumBandwidth:n",
            ")",
            "Mounts:[@Mount?",
            "MaskedPaths:[s",
            "ReadonlyPaths:[s",
            "Init:*b?",
        ],
    ),
    ("LogConfig", &["Type:s", "Config:{s"]),
    ("RestartPolicy", &["Name:s", "MaximumRetryCount:n"]),
    ("PortBinding", &["HostIp:s", "HostPort:s"]),
    ("WeightDevice", &["Path:s", "Weight:n"]),
    ("ThrottleDevice", &["Path:s", "Rate:n"]),
    (
        "DeviceMapping",
        &["PathOnHost:s", "PathInContainer:s", "CgroupPermissions:s"],
    ),
    (
        "DeviceRequest",
        &[
            "Driver:s",
            "Count:n",
            "DeviceIDs:[s",
            "Capabilities:[[s",
            "Options:{s",
        ],
    ),
    ("Ulimit", &["Name:s", "Hard:n", "Soft:n"]),
    (
        "Mount",
        &[
            "Type:s?",
            "Source:s?",
            "Target:s?",
            "ReadOnly:b?",
            "Consistency:s?",
            "BindOptions:*@BindOptions?",
            "VolumeOptions:*@VolumeOptions?",
            "ImageOptions:*@ImageOptions?",
            "TmpfsOptions:*@TmpfsOptions?",
            "ClusterOptions:*a?",
        ],
    ),
    (
        "BindOptions",
        &[
            "Propagation:s?",
            "NonRecursive:b?",
            "CreateMountpoint:b?",
            "ReadOnlyNonRecursive:b?",
            "ReadOnlyForceRecursive:b?",
        ],
    ),
    (
        "VolumeOptions",
        &[
            "NoCopy:b?",
            "Labels:{s?",
            "Subpath:s?",
            "DriverConfig:*@VolumeDriver?",
        ],
    ),
    ("VolumeDriver", &["Name:s?", "Options:{s?"]),
    ("ImageOptions", &["Subpath:s?"]),
    ("TmpfsOptions", &["SizeBytes:n?", "Mode:n?", "Options:[[s?"]),
    ("DriverData", &["Data:{s", "Name:s"]),
    (
        "MountPoint",
        &[
            "Type:s?",
            "Name:s?",
            "Source:s",
            "Destination:s",
            "Driver:s?",
            "Mode:s",
            "RW:b",
            "Propagation:s",
        ],
    ),
    (
        "Config",
        &[
            "Hostname:s",
            "Domainname:s",
            "User:s",
            "AttachStdin:b",
            "AttachStdout:b",
            "AttachStderr:b",
            "ExposedPorts:{@Empty?",
            "Tty:b",
            "OpenStdin:b",
            "StdinOnce:b",
            "Env:[s",
            "Cmd:[s",
            "Healthcheck:*@HealthConfig?",
            "ArgsEscaped:b?",
            "Image:s",
            "Volumes:{@Empty",
            "WorkingDir:s",
            "Entrypoint:[s",
            "NetworkDisabled:b?",
            "MacAddress:s?",
            "OnBuild:[s",
            "Labels:{s",
            "StopSignal:s?",
            "StopTimeout:*n?",
            "Shell:[s?",
        ],
    ),
    (
        "HealthConfig",
        &[
            "Test:[s?",
            "Interval:d?",
            "Timeout:d?",
            "StartPeriod:d?",
            "StartInterval:d?",
            "Retries:n?",
        ],
    ),
    (
        "NetworkSettings",
        &[
            "(",
            "Bridge:s",
            "SandboxID:s",
            "SandboxKey:s",
            "Ports:{[@PortBinding",
            "HairpinMode:b",
            "LinkLocalIPv6Address:s",
            "LinkLocalIPv6PrefixLen:n",
            "SecondaryIPAddresses:[@Address",
            "SecondaryIPv6Addresses:[@Address",
            ")",
            "(",
            "EndpointID:s",
            "Gateway:s",
            "GlobalIPv6Address:s",
            "GlobalIPv6PrefixLen:n",
            "IPAddress:s",
            "IPPrefixLen:n",
            "IPv6Gateway:s",
            "MacAddress:s",
            ")",
            "Networks:{*@EndpointSettings",
        ],
    ),
    ("Address", &["Addr:s", "PrefixLen:n"]),
    (
        "EndpointSettings",
        &[
            "IPAMConfig:*@EndpointIPAMConfig",
            "Links:[s",
            "Aliases:[s",
            "MacAddress:s",
            "DriverOpts:{s",
            "GwPriority:n",
            "NetworkID:s",
            "EndpointID:s",
            "Gateway:s",
            "IPAddress:s",
            "IPPrefixLen:n",
            "IPv6Gateway:s",
            "GlobalIPv6Address:s",
            "GlobalIPv6PrefixLen:n",
            "DNSNames:[s",
        ],
    ),
    (
        "EndpointIPAMConfig",
        &["IPv4Address:s?", "IPv6Address:s?", "LinkLocalIPs:[s?"],
    ),
    // OCI descriptor and platform (lower-case JSON names).
    (
        "Descriptor",
        &[
            "mediaType:s",
            "digest:s",
            "size:n",
            "urls:[s?",
            "annotations:{s?",
            "data:s?",
            "platform:*@Platform?",
            "artifactType:s?",
        ],
    ),
    (
        "Platform",
        &[
            "architecture:s",
            "os:s",
            "os.version:s?",
            "os.features:[s?",
            "variant:s?",
        ],
    ),
    // image.InspectResponse.
    (
        "Image",
        &[
            "ID=Id:s",
            "RepoTags:[s",
            "RepoDigests:[s",
            "Parent:s",
            "Comment:s",
            "Created:s?",
            "Container:s?",
            "ContainerConfig:*@Config?",
            "DockerVersion:s",
            "Author:s",
            "Config:*@ImageConfig",
            "Architecture:s",
            "Variant:s?",
            "Os:s",
            "OsVersion:s?",
            "Size:n",
            "VirtualSize:n?",
            "GraphDriver:@DriverData",
            "RootFS:@RootFS",
            "Metadata:@ImageMetadata",
            "Descriptor:*@Descriptor?",
            "Manifests:[a?",
        ],
    ),
    // dockerspec.DockerOCIImageConfig: every field omitempty.
    (
        "ImageConfig",
        &[
            "(",
            "User:s?",
            "ExposedPorts:{@Empty?",
            "Env:[s?",
            "Entrypoint:[s?",
            "Cmd:[s?",
            "Volumes:{@Empty?",
            "WorkingDir:s?",
            "Labels:{s?",
            "StopSignal:s?",
            "ArgsEscaped:b?",
            ")",
            "(",
            "Healthcheck:*@HealthConfig?",
            "OnBuild:[s?",
            "Shell:[s?",
            ")",
        ],
    ),
    ("RootFS", &["Type:s", "Layers:[s?"]),
    ("ImageMetadata", &["LastTagTime:t"]),
    // volume.Volume (generated from the swagger file: fields in alphabetical order).
    (
        "Volume",
        &[
            "ClusterVolume:*a?",
            "CreatedAt:s?",
            "Driver:s",
            "Labels:{s",
            "Mountpoint:s",
            "Name:s",
            "Options:{s",
            "Scope:s",
            "Status:{a?",
            "UsageData:*@UsageData?",
        ],
    ),
    ("UsageData", &["RefCount:n", "Size:n"]),
    // container.Summary: what a `ps` row holds (its `{{.}}` prints it).
    (
        "ContainerSummary",
        &[
            "ID=Id:s",
            "Names:[s",
            "Image:s",
            "ImageID:s",
            "ImageManifestDescriptor:*a?",
            "Command:s",
            "Created:n",
            "Ports:[@Port",
            "SizeRw:n?",
            "SizeRootFs:n?",
            "Labels:{s",
            "State:s",
            "Status:s",
            "HostConfig:@SummaryHostConfig",
            "NetworkSettings:*a",
            "Mounts:[@MountPoint",
        ],
    ),
    (
        "Port",
        &["IP:s?", "PrivatePort:n", "PublicPort:n?", "Type:s"],
    ),
    ("SummaryHostConfig", &["NetworkMode:s?", "Annotations:{s?"]),
    // container.StatsEntry: what a `stats` row holds.
    (
        "StatsEntry",
        &[
            "Container:s",
            "Name:s",
            "ID:s",
            "CPUPercentage:a",
            "Memory:a",
            "MemoryLimit:a",
            "MemoryPercentage:a",
            "NetworkRx:a",
            "NetworkTx:a",
            "BlockRead:a",
            "BlockWrite:a",
            "PidsCurrent:n",
            "IsInvalid:b",
        ],
    ),
    // image.HistoryResponseItem: what a `history` row holds.
    (
        "HistoryItem",
        &[
            "Comment:s",
            "Created:n",
            "CreatedBy:s",
            "ID=Id:s",
            "Size:n",
            "Tags:[s",
        ],
    ),
    // image.Summary: what an `images` row holds.
    (
        "ImageSummary",
        &[
            "Containers:n",
            "Created:n",
            "ID=Id:s",
            "Labels:{s",
            "ParentID=ParentId:s",
            "Descriptor:*a?",
            "Manifests:[a?",
            "RepoDigests:[s",
            "RepoTags:[s",
            "SharedSize:n",
            "Size:n",
            "VirtualSize:n?",
        ],
    ),
    // struct{}: the values of nat.PortSet and of a Volumes set.
    ("Empty", &[]),
    // network.Inspect.
    (
        "Network",
        &[
            "Name:s",
            "ID=Id:s",
            "Created:t",
            "Scope:s",
            "Driver:s",
            "EnableIPv4:b",
            "EnableIPv6:b",
            "IPAM:@IPAM",
            "Internal:b",
            "Attachable:b",
            "Ingress:b",
            "ConfigFrom:@ConfigReference",
            "ConfigOnly:b",
            "Containers:{@EndpointResource",
            "Options:{s",
            "Labels:{s",
            "Peers:[@PeerInfo?",
            "Services:{a?",
        ],
    ),
    ("IPAM", &["Driver:s", "Options:{s", "Config:[@IPAMConfig"]),
    (
        "IPAMConfig",
        &[
            "Subnet:s?",
            "IPRange:s?",
            "Gateway:s?",
            "AuxAddress=AuxiliaryAddresses:{s?",
        ],
    ),
    ("ConfigReference", &["Network:s"]),
    (
        "EndpointResource",
        &[
            "Name:s",
            "EndpointID:s",
            "MacAddress:s",
            "IPv4Address:s",
            "IPv6Address:s",
        ],
    ),
    ("PeerInfo", &["Name:s", "IP:s"]),
    // events.Message as the CLI's events context has it (fields by their Go names).
    (
        "Event",
        &[
            "Status:s",
            "ID:s",
            "From:s",
            "Type:s",
            "Action:s",
            "Actor:@EventActor",
            "Scope:s",
            "Time:n",
            "TimeNano:n",
        ],
    ),
    ("EventActor", &["ID:s", "Attributes:{s"]),
    // The docker CLI's info context (system.dockerInfo): system.Info embedded, then the
    // client's part. RegistryConfig marshals itself as a map (kept as sent).
    (
        "Info",
        &[
            // (*system.Info, embedded: fmt prints its address)
            "(*",
            "ID:s",
            "Containers:n",
            "ContainersRunning:n",
            "ContainersPaused:n",
            "ContainersStopped:n",
            "Images:n",
            "Driver:s",
            "DriverStatus:[[s",
            "SystemStatus:[[s?",
            "Plugins:@PluginsInfo",
            "MemoryLimit:b",
            "SwapLimit:b",
            "KernelMemory:b?",
            "KernelMemoryTCP:b?",
            "CPUCfsPeriod=CpuCfsPeriod:b",
            "CPUCfsQuota=CpuCfsQuota:b",
            "CPUShares:b",
            "CPUSet:b",
            "PidsLimit:b",
            "IPv4Forwarding:b",
            "Debug:b",
            "NFd:n",
            "OomKillDisable:b",
            "NGoroutines:n",
            "SystemTime:s",
            "LoggingDriver:s",
            "CgroupDriver:s",
            "CgroupVersion:s?",
            "NEventsListener:n",
            "KernelVersion:s",
            "OperatingSystem:s",
            "OSVersion:s",
            "OSType:s",
            "Architecture:s",
            "IndexServerAddress:s",
            "RegistryConfig:*a",
            "NCPU:n",
            "MemTotal:n",
            "GenericResources:[a",
            "DockerRootDir:s",
            "HTTPProxy=HttpProxy:s",
            "HTTPSProxy=HttpsProxy:s",
            "NoProxy:s",
            "Name:s",
            "Labels:[s",
            "ExperimentalBuild:b",
            "ServerVersion:s",
            "Runtimes:{@RuntimeWithStatus",
            "DefaultRuntime:s",
            "Swarm:@SwarmInfo",
            "LiveRestoreEnabled:b",
            "Isolation:s",
            "InitBinary:s",
            "ContainerdCommit:@Commit",
            "RuncCommit:@Commit",
            "InitCommit:@Commit",
            "SecurityOptions:[s",
            "ProductLicense:s?",
            "DefaultAddressPools:[@NetworkAddressPool?",
            "FirewallBackend:*@FirewallInfo?",
            "CDISpecDirs:[s",
            "DiscoveredDevices:[a?",
            "Containerd:*a?",
            "Warnings:[s",
            ")",
            "ServerErrors:[s?",
            "UserName=-:s",
            "ClientInfo:*@ClientInfo?",
            "ClientErrors:[s?",
        ],
    ),
    (
        "PluginsInfo",
        &["Volume:[s", "Network:[s", "Authorization:[s", "Log:[s"],
    ),
    (
        "RuntimeWithStatus",
        &[
            "(",
            "Path=path:s?",
            "Args=runtimeArgs:[s?",
            "Type=runtimeType:s?",
            "Options=options:{a?",
            ")",
            "Status=status:{s?",
        ],
    ),
    (
        "SwarmInfo",
        &[
            "NodeID:s",
            "NodeAddr:s",
            "LocalNodeState:s",
            "ControlAvailable:b",
            "Error:s",
            "RemoteManagers:[@Peer",
            "Nodes:n?",
            "Managers:n?",
            "Cluster:*a?",
            "Warnings:[s?",
        ],
    ),
    ("Peer", &["NodeID:s", "Addr:s"]),
    ("Commit", &["ID:s", "Expected:s?"]),
    ("NetworkAddressPool", &["Base:s", "Size:n"]),
    ("FirewallInfo", &["Driver:s", "Info:[[s?"]),
    (
        "ClientInfo",
        &[
            "Debug:b",
            "(",
            "Platform:*@PlatformInfo?",
            "Version:s",
            "APIVersion=ApiVersion:s?",
            "DefaultAPIVersion:s?",
            "GitCommit:s",
            "GoVersion:s",
            "Os:s",
            "Arch:s",
            "BuildTime:s?",
            "Context:s",
            ")",
            "Plugins:[a",
            "Warnings:[s",
        ],
    ),
    ("PlatformInfo", &["Name:s"]),
    // The docker CLI's version context (system.versionInfo): its clientVersion and the
    // daemon's types.Version.
    (
        "VersionInfo",
        &["Client:@ClientVersion", "Server:*@ServerVersion"],
    ),
    (
        "ClientVersion",
        &[
            "Platform:*@PlatformInfo?",
            "Version:s",
            "APIVersion=ApiVersion:s?",
            "DefaultAPIVersion:s?",
            "GitCommit:s",
            "GoVersion:s",
            "Os:s",
            "Arch:s",
            "BuildTime:s?",
            "Context:s",
        ],
    ),
    (
        "ServerVersion",
        &[
            "Platform:@PlatformInfo",
            "Components:[@ComponentVersion?",
            "Version:s",
            "APIVersion=ApiVersion:s",
            "MinAPIVersion:s?",
            "GitCommit:s",
            "GoVersion:s",
            "Os:s",
            "Arch:s",
            "KernelVersion:s?",
            "Experimental:b?",
            "BuildTime:s?",
        ],
    ),
    ("ComponentVersion", &["Name:s", "Version:s", "Details:{s?"]),
];

/// The inspected structs: name, its type here, the docker CLI's Go type (for errors).
const ROOTS: &[(&str, &str, &str)] = &[
    ("Container", "@Container", "*container.InspectResponse"),
    ("Image", "@Image", "*image.InspectResponse"),
    ("Network", "@Network", "network.Inspect"),
    ("Volume", "@Volume", "volume.Volume"),
    ("Event", "@Event", "*events.Message"),
    ("Info", "@Info", "system.dockerInfo"),
    ("VersionInfo", "@VersionInfo", "system.versionInfo"),
];

/// The type (`@Name`) of the struct `name`.
pub fn type_name(name: &str) -> Option<&'static str> {
    ROOTS.iter().find(|r| r.0 == name).map(|r| r.1)
}

/// The docker CLI's Go type of the struct `name`.
pub fn go_name(name: &str) -> &'static str {
    ROOTS.iter().find(|r| r.0 == name).map_or("", |r| r.2)
}

fn fields(name: &str) -> Option<&'static [&'static str]> {
    STRUCTS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// What a list or map that [`typed`] made stands for in Go.
#[derive(Clone, Copy)]
pub enum Shape {
    /// A struct with these fields, in order.
    Struct(&'static [&'static str]),
    /// A nil slice: empty to templates (`[]`), `null` to `json`.
    Nil,
    /// A nil pointer: an empty list to gotmpl (false, nothing to range over), `<nil>`
    /// when printed, `null` to `json`.
    NilPtr,
    /// A map with string keys and values of this type; nil (`null` to `json`) or not.
    Map(&'static str, bool),
    /// A list command's row: one of the docker CLI's formatter contexts, whose
    /// MarshalJSON goes through json.Marshal and so escapes `<`, `>` and `&`.
    Row,
}

thread_local! {
    /// The shapes of the lists and maps built by [`typed`], by address.
    static SHAPES: RefCell<HashMap<usize, Shape>> = RefCell::new(HashMap::new());
    /// The API objects of list rows (see [`row_go`]), by the row map's address.
    static ROW_GO: RefCell<HashMap<usize, (String, Json)>> = RefCell::new(HashMap::new());
}

fn addr<T: ?Sized>(a: &Arc<T>) -> usize {
    Arc::as_ptr(a) as *const () as usize
}

fn remember<T: ?Sized>(a: &Arc<T>, s: Shape) {
    SHAPES.with(|o| o.borrow_mut().insert(addr(a), s));
}

/// The Go shape of a list's or map's allocation, if [`typed`] made it.
pub fn shape_of<T: ?Sized>(a: &Arc<T>) -> Option<Shape> {
    SHAPES.with(|o| o.borrow().get(&addr(a)).copied())
}

/// A field spec's name, and whether `json` leaves the field out when it holds `v`.
pub fn field(spec: &'static str, v: &Value) -> (&'static str, bool) {
    let (name, ty, omitempty) = split(spec);
    (name, omitempty && is_empty(v, ty))
}

fn nil_list() -> Value {
    let l: Arc<[Value]> = Arc::from(Vec::new());
    remember(&l, Shape::Nil);
    Value::List(l)
}

fn nil_ptr() -> Value {
    let l: Arc<[Value]> = Arc::from(Vec::new());
    remember(&l, Shape::NilPtr);
    Value::List(l)
}

/// The type of field `name` of the struct `st`, None if the struct has no such field.
pub fn field_type(st: &str, name: &str) -> Option<&'static str> {
    fields(st)?
        .iter()
        .map(|s| name_type(s))
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t)
}

/// A field spec's name and type (without the omitempty mark).
pub fn name_type(spec: &'static str) -> (&'static str, &'static str) {
    let (n, t, _) = split(spec);
    (n, t)
}

/// Runs `f` on the template value of `data` shaped as the Go struct `root` (one of this
/// module's names; anything else converts plainly). The struct maps' addresses stay
/// registered while `f` runs, where the value is alive and no other map can take them.
pub fn with_typed<R>(data: &Json, root: Option<&str>, f: impl FnOnce(&Value) -> R) -> R {
    let v = match root {
        Some(r) => struct_value(data, r),
        None => crate::format::to_value(data),
    };
    let out = f(&v);
    SHAPES.with(|o| o.borrow_mut().clear());
    ROW_GO.with(|o| o.borrow_mut().clear());
    out
}

/// Runs `f` on a list row or other document that the docker CLI gives templates as an
/// object with methods: a `null` field stands for a nil pointer (`<nil>` when printed).
pub fn with_row<R>(data: &Json, f: impl FnOnce(&Value) -> R) -> R {
    let v = row_value(data);
    let out = f(&v);
    SHAPES.with(|o| o.borrow_mut().clear());
    ROW_GO.with(|o| o.borrow_mut().clear());
    out
}

/// Runs `f` on a struct whose fields (`fields`, in order) are lists of rows, such as
/// docker's `system df -v` context `{Images, Containers, Volumes, BuildCache}`.
pub fn with_row_lists<R>(
    fields: &'static [&'static str],
    lists: &[Vec<Json>],
    f: impl FnOnce(&Value) -> R,
) -> R {
    let m = Arc::new(
        fields
            .iter()
            .zip(lists)
            .map(|(name, rows)| {
                let l: Arc<[Value]> = rows.iter().map(row_value).collect();
                (Arc::from(name_type(name).0), Value::List(l))
            })
            .collect(),
    );
    remember(&m, Shape::Struct(fields));
    let out = f(&Value::Map(m));
    SHAPES.with(|o| o.borrow_mut().clear());
    ROW_GO.with(|o| o.borrow_mut().clear());
    out
}

fn row_value(data: &Json) -> Value {
    match data {
        Json::Object(o) => {
            let m = Arc::new(
                o.iter()
                    .filter(|(k, _)| k.as_str() != crate::format::GO_ROW)
                    .map(|(k, x)| {
                        let v = match x {
                            Json::Null => nil_ptr(),
                            x => crate::format::to_value(x),
                        };
                        (Arc::from(k.as_str()), v)
                    })
                    .collect(),
            );
            remember(&m, Shape::Row);
            if let Some(Json::Array(g)) = o.get(crate::format::GO_ROW)
                && let [Json::String(kind), raw] = g.as_slice()
            {
                ROW_GO.with(|r| r.borrow_mut().insert(addr(&m), (kind.clone(), raw.clone())));
            }
            Value::Map(m)
        }
        other => crate::format::to_value(other),
    }
}

/// The kind of a list row and the API object it shows (see [`crate::format::with_go`]).
pub fn row_go<T: ?Sized>(a: &Arc<T>) -> Option<(String, Json)> {
    ROW_GO.with(|r| r.borrow().get(&addr(a)).cloned())
}

/// The docker CLI's Go type of a list row (its formatter context), when known.
pub fn row_type<T: ?Sized>(a: &Arc<T>) -> Option<&'static str> {
    let (kind, _) = row_go(a)?;
    Some(match kind.split(':').next()? {
        "history" => "image.historyContext",
        "stats" => "container.statsContext",
        "df-images" => "formatter.diskUsageImagesContext",
        "df-containers" => "formatter.diskUsageContainersContext",
        "df-volumes" => "formatter.diskUsageVolumesContext",
        "df-build" => "formatter.diskUsageBuilderContext",
        "ps" => "formatter.ContainerContext",
        "images" => "formatter.imageContext",
        "network" => "network.networkContext",
        "volume" => "formatter.volumeContext",
        "context" => "formatter.clientContextContext",
        _ => return None,
    })
}

/// A field's key in JSON: `Go=json:type` names a field whose JSON key differs from its
/// Go name (templates use the Go name); `-` is a field JSON leaves out.
pub fn json_name(spec: &'static str) -> &'static str {
    let name = spec.split_once(':').map_or(spec, |(n, _)| n);
    name.split_once('=').map_or(name, |(_, j)| j)
}

/// The field's name, type and whether it is omitempty.
fn split(spec: &'static str) -> (&'static str, &'static str, bool) {
    let (name, ty) = spec.split_once(':').unwrap_or((spec, "a"));
    let name = name.split_once('=').map_or(name, |(go, _)| go);
    match ty.strip_suffix('?') {
        Some(t) => (name, t, true),
        None => (name, ty, false),
    }
}

/// `j` as the struct `name`, inside a run of [`with_row`] or [`with_typed`] (which keep
/// its shapes until they end).
pub fn typed_value(j: &Json, name: &str) -> Value {
    struct_value(j, name)
}

/// `j` as the struct `name` (plainly converted when there is no such struct).
fn struct_value(j: &Json, name: &str) -> Value {
    let Some(fs) = fields(name) else {
        return crate::format::to_value(j);
    };
    let empty = serde_json::Map::new();
    let obj = j.as_object().unwrap_or(&empty);
    let mut m = BTreeMap::new();
    for spec in fs.iter().filter(|s| !matches!(**s, "(" | "(*" | ")")) {
        let (name, fty, _) = split(spec);
        let v = match obj.get(json_name(spec)) {
            Some(x) => typed(x, fty),
            None => zero(fty),
        };
        m.insert(Arc::from(name), v);
    }
    let m = Arc::new(m);
    remember(&m, Shape::Struct(fs));
    Value::Map(m)
}

fn typed(j: &Json, ty: &'static str) -> Value {
    match ty.as_bytes().first() {
        Some(b'@') => struct_value(j, &ty[1..]),
        Some(b'*') => match j {
            Json::Null => nil_ptr(),
            _ => typed(j, &ty[1..]),
        },
        Some(b'[') => match j {
            Json::Array(items) => Value::List(items.iter().map(|x| typed(x, &ty[1..])).collect()),
            _ => nil_list(),
        },
        Some(b'{') => {
            let (items, nil) = match j {
                Json::Object(o) => (
                    o.iter()
                        .map(|(k, x)| (Arc::from(k.as_str()), typed(x, &ty[1..])))
                        .collect(),
                    false,
                ),
                _ => (BTreeMap::new(), true),
            };
            let m = Arc::new(items);
            remember(&m, Shape::Map(&ty[1..], nil));
            Value::Map(m)
        }
        Some(b't') => match j.as_str() {
            Some(s) => Value::String(go_time(s).into()),
            None => zero(ty),
        },
        Some(b's') if j.is_null() => zero(ty),
        Some(b'n') | Some(b'd') if j.is_null() => zero(ty),
        Some(b'b') if j.is_null() => zero(ty),
        _ => crate::format::to_value(j),
    }
}

/// The zero value of a type (a nil pointer, slice or map; an empty struct).
pub fn zero(ty: &'static str) -> Value {
    match ty.as_bytes().first() {
        Some(b's') => Value::String("".into()),
        Some(b'n') => Value::Int(0),
        Some(b'b') => Value::Bool(false),
        Some(b'd') => Value::Int(0),
        Some(b't') => Value::String("0001-01-01T00:00:00Z".into()),
        Some(b'@') | Some(b'{') => typed(&Json::Null, ty),
        Some(b'[') => nil_list(),
        Some(b'*') => nil_ptr(),
        _ => Value::Nil,
    }
}

/// Go's omitempty: false, 0, "", nil and empty slices and maps; a pointer only when nil,
/// a struct never.
fn is_empty(v: &Value, ty: &str) -> bool {
    match ty.as_bytes().first() {
        Some(b'@') | Some(b't') => false,
        Some(b'*') => match v {
            Value::List(l) => matches!(shape_of(l), Some(Shape::NilPtr)),
            other => matches!(other, Value::Nil),
        },
        _ => match v {
            Value::Nil => true,
            Value::Bool(b) => !b,
            Value::Int(n) => *n == 0,
            Value::Uint(n) => *n == 0,
            Value::Float(f) => *f == 0.0,
            Value::String(s) => s.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Map(m) => m.is_empty(),
            Value::Function(_) => false,
        },
    }
}

/// An RFC 3339 time as Go's `time.Time` marshals it again: the fraction without its
/// trailing zeros, a zero offset as `Z`.
fn go_time(s: &str) -> String {
    let (body, zone) = match s.find(['Z', 'z']) {
        Some(i) => (&s[..i], "Z"),
        None => match s.rfind(['+', '-']).filter(|i| *i > 10) {
            Some(i) if &s[i..] == "+00:00" || &s[i..] == "-00:00" => (&s[..i], "Z"),
            Some(i) => (&s[..i], &s[i..]),
            None => return s.to_owned(),
        },
    };
    let body = match body.split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{frac}")
            }
        }
        None => body.to_owned(),
    };
    format!("{body}{zone}")
}

/// An RFC 3339 time as Go's `time.Time.String` prints it
/// (`2026-12-04 00:19:27.27261641 +0000 UTC`).
pub fn go_time_string(s: &str) -> String {
    let t = go_time(s).replacen('T', " ", 1);
    if let Some(body) = t.strip_suffix('Z') {
        return format!("{body} +0000 UTC");
    }
    match t.rfind(['+', '-']).filter(|i| *i > 10) {
        Some(i) => {
            let off = t[i..].replace(':', "");
            format!("{} {off} {off}", &t[..i])
        }
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_struct_type_is_defined() {
        for (_, fs) in STRUCTS {
            for spec in *fs {
                let (_, ty, _) = split(spec);
                if let Some(i) = ty.find('@') {
                    assert!(fields(&ty[i + 1..]).is_some(), "{spec}");
                }
            }
        }
    }

    #[test]
    fn go_times_drop_trailing_zeros() {
        assert_eq!(
            go_time("2026-12-04T00:19:27.272616410Z"),
            "2026-12-04T00:19:27.27261641Z"
        );
        assert_eq!(go_time("2026-12-04T00:19:27.000Z"), "2026-12-04T00:19:27Z");
        assert_eq!(
            go_time("2026-12-04T00:19:27.5+00:00"),
            "2026-12-04T00:19:27.5Z"
        );
        assert_eq!(
            go_time("2026-12-04T00:19:27.50+01:00"),
            "2026-12-04T00:19:27.5+01:00"
        );
        assert_eq!(
            go_time_string("2026-12-04T00:19:27.272616410Z"),
            "2026-12-04 00:19:27.27261641 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-12-04T00:19:27+01:00"),
            "2026-12-04 00:19:27 +0100 +0100"
        );
    }

    #[test]
    fn structs_get_zero_values_and_lose_empty_omitempty_fields() {
        let j =
            json!({"Type": "volume", "Source": "/s", "Destination": "/d", "RW": true, "Extra": 1});
        with_typed(&j, Some("MountPoint"), |v| {
            let Value::Map(m) = v else { panic!() };
            let keys: Vec<&str> = m.keys().map(|k| &**k).collect();
            assert_eq!(
                keys,
                [
                    "Destination",
                    "Driver",
                    "Mode",
                    "Name",
                    "Propagation",
                    "RW",
                    "Source",
                    "Type"
                ]
            );
            let Some(Shape::Struct(fs)) = shape_of(m) else {
                panic!()
            };
            assert_eq!(field(fs[1], &m["Name"]), ("Name", true));
            assert_eq!(field(fs[0], &m["Type"]), ("Type", false));
        });
    }
}
