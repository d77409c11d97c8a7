# -*- python -*-
# Calvin build controller: the sample build (/etc/calvin/controller.d/, run by master.cfg with
# c, util, steps, schedulers, WORKER_NAMES and its cfg_* readers in scope).
#
# sample-hello proves the build system builds, inside the environment and without the
# internet: an executor clones samples/hello from the source repository (anonymously), builds
# the C library and the Python wheel, runs their unit tests, uploads the product to the
# artefact repository as one OCI artifact of its own media types (calvin-artefact, in the
# executor image), records its digest as the build properties artefact_digest and
# artefact_path, then fetches it back by digest through the edge proxy and checks every
# checksum against what it built.

SOURCES = cfg_url("source_repository_url").rstrip("/")
REGISTRY = cfg_url("artefact_repository_url").rstrip("/")
EDGE_PROXY = cfg_url("edge_proxy_url").rstrip("/")

SAMPLE_BUILDER = "sample-hello"
SAMPLE_SOURCE = f"{SOURCES}/git/hello.git"
SAMPLE_ARTEFACT = "samples/hello"
SAMPLE_TYPE = "application/vnd.calvin.sample.v1"


def _artefact(rc, stdout, stderr):
    """calvin-artefact push's `digest:` and `path:` lines, as build properties."""
    found = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(": ")
        if key in ("digest", "path", "reference"):
            found[f"artefact_{key}"] = value.strip()
    return found


sample = util.BuildFactory()
sample.addStep(steps.Git(
    name="clone from the source repository", repourl=SAMPLE_SOURCE, branch="main",
    mode="full", method="clobber", haltOnFailure=True))
sample.addStep(steps.ShellCommand(
    name="build", command=["make", "all"], haltOnFailure=True))
sample.addStep(steps.ShellCommand(
    name="unit tests", command=["make", "check"], haltOnFailure=True))
sample.addStep(steps.ShellCommand(
    name="package and check the wheel", command=["make", "dist", "distcheck"], haltOnFailure=True))
sample.addStep(steps.SetPropertyFromCommand(
    name="upload to the artefact repository",
    command=["calvin-artefact", "push", "--registry", REGISTRY, "--repository", SAMPLE_ARTEFACT,
             "--tag", util.Interpolate("git-%(prop:got_revision)s"),
             "--artifact-type", SAMPLE_TYPE,
             "--config-type", "application/vnd.calvin.sample.v1+json",
             "--layer-type", ".tar.gz=application/vnd.calvin.sample.clib.v1.tar+gzip",
             "--layer-type", ".whl=application/vnd.calvin.sample.wheel.v1+zip",
             "--annotation", util.Interpolate("org.opencontainers.image.revision=%(prop:got_revision)s"),
             "--annotation", f"org.opencontainers.image.source={SAMPLE_SOURCE}",
             "dist"],
    extract_fn=_artefact, haltOnFailure=True))
sample.addStep(steps.ShellCommand(
    name="fetch back by digest through the edge proxy",
    command=["calvin-artefact", "fetch", "--registry", EDGE_PROXY, "--into", "fetched", "--compare", "dist",
             util.Interpolate("%(prop:artefact_reference)s")],
    haltOnFailure=True))

c["builders"].append(util.BuilderConfig(
    name=SAMPLE_BUILDER,
    description="Builds samples/hello from the source repository, tests it and puts it into the artefact repository",
    workernames=WORKER_NAMES,
    factory=sample))
c["schedulers"].append(schedulers.ForceScheduler(name="sample", builderNames=[SAMPLE_BUILDER]))
