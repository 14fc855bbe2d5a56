"""The Dockerfile, without a Docker engine: its instructions are parsed,
the build stage's RUN steps run in a scratch copy of the build context (the
tree minus .dockerignore, as COPY sees it), and the runtime stage is laid
out in a scratch root from its COPY lines and the packages the build stage
made (dpkg -x, plus the module enablement each package's postinst does);
the archive's module packages it installs by name (libnginx-mod-stream)
come from this machine's installation of them, laid out the same way.
nginx -t then checks the image's configuration there, nginx runs it the
way CMD says, and the HEALTHCHECK command must succeed against it.
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import nginx
from debs import enabled_links, installed_postinst, postinst
from dockerfile import (build_context, copy_args, copy_into,
                        dockerignore_patterns, ignored, parse_dockerfile)
from repo import REPO

BASE = "debian:bookworm-slim"


@pytest.fixture(scope="module")
def stages():
    return parse_dockerfile()


# -- the recipe's shape -------------------------------------------------------

def test_stages_are_bookworm_slim(stages):
    assert len(stages) >= 2
    assert [s.base for s in stages] == [BASE] * len(stages)
    assert stages[0].name == "build"


def test_build_stage_runs_the_projects_build_script(stages):
    build = stages[0]
    assert [copy_args(a) for a in build.all("COPY")] == [(None, ["."], ".")]
    runs = build.all("RUN")
    assert runs and all(r.startswith("scripts/build.sh") for r in runs)


def test_runtime_runs_nginx_like_the_official_images(stages):
    runtime = stages[-1]
    assert json.loads(runtime.one("CMD")) == ["nginx", "-g", "daemon off;"]
    assert runtime.one("STOPSIGNAL") == "SIGQUIT"
    assert "443" in runtime.one("EXPOSE").split()
    assert not runtime.all("USER"), "nginx drops privileges itself"


def test_context_copies_exist_and_are_not_ignored(stages):
    patterns = dockerignore_patterns()
    for stage in stages:
        for args in stage.all("COPY"):
            source_stage, sources, _ = copy_args(args)
            if source_stage:
                continue
            for src in sources:
                path = os.path.normpath(os.path.join(REPO, src))
                assert os.path.exists(path), src
                rel = os.path.relpath(path, REPO)
                assert rel == "." or not ignored(rel, patterns), src


def healthcheck(stage):
    """(options, command) of the HEALTHCHECK."""
    args = stage.one("HEALTHCHECK")
    options, _, command = args.partition(" CMD ")
    assert command, args
    return options, command


def test_healthcheck_asks_the_status_endpoint(stages):
    options, command = healthcheck(stages[-1])
    assert "--interval=" in options and "--timeout=" in options
    assert re.search(r"curl -f\S* .*http://127\.0\.0\.1:\d+"
                     r"/nitro-attest/status", command), command


# -- the build stage, run -------------------------------------------------------

@pytest.fixture(scope="module")
def built(stages, tmp_path_factory):
    """The build stage's filesystem after its steps: /WORKDIR under a
    scratch directory, the build context copied in, every RUN run there."""
    fs = str(tmp_path_factory.mktemp("build-stage"))
    context = str(tmp_path_factory.mktemp("context"))
    build_context(context)
    # a container's environment, not this process's (no MAKEFLAGS)
    workdir = "/"
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                   "/sbin:/bin", "HOME": os.environ.get("HOME", "/root")}
    for instruction, args in stages[0].steps:
        if instruction == "WORKDIR":
            workdir = os.path.join(workdir, args)
            os.makedirs(fs + workdir, exist_ok=True)
        elif instruction == "ENV":
            name, _, value = args.partition("=")
            env[name] = value
        elif instruction == "COPY":
            source_stage, sources, dest = copy_args(args)
            assert source_stage is None
            dest = os.path.join(fs + workdir, dest)
            copy_into([os.path.join(context, s) for s in sources],
                      dest if dest.endswith("/") else dest + "/")
        elif instruction == "RUN":
            p = subprocess.run(["sh", "-c", args], cwd=fs + workdir, env=env,
                               capture_output=True, text=True, timeout=540)
            if p.returncode != 0 and "run as root" in p.stderr:
                pytest.skip("packages missing and not root: " + p.stderr)
            assert p.returncode == 0, "RUN %s\n%s\n%s" % (
                args, p.stdout[-3000:], p.stderr[-3000:])
        else:
            pytest.fail("build stage: no emulation for " + instruction)
    return fs


def install_step(stage):
    (install,) = [r for r in stage.all("RUN") if "apt-get install" in r]
    return install


def archive_packages(stage):
    """The packages the runtime stage's apt-get install names (not the
    copied .deb files)."""
    words = install_step(stage).split("apt-get install", 1)[1] \
        .split("&&")[0].split()
    return [w for w in words if not w.startswith("-") and "/" not in w]


def lay_out_installed(package, root):
    """An archive package as installed on this machine, copied into root;
    its postinst text."""
    p = subprocess.run(["dpkg", "-L", package], capture_output=True,
                       text=True)
    if p.returncode != 0:
        pytest.fail("%s is not installed here (scripts/install-deps.sh "
                    "installs it)" % package)
    for path in p.stdout.split():
        if os.path.isfile(path) or os.path.islink(path):
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            shutil.copy2(path, root + path, follow_symlinks=False)
    return installed_postinst(package) or ""


@pytest.fixture(scope="module")
def rootfs(stages, built, tmp_path_factory):
    """The runtime stage laid out in a scratch root: its COPY lines, then
    what its RUN does with the copied packages and the archive's module
    packages it names (their files, and the modules-enabled links their
    postinst makes)."""
    root = str(tmp_path_factory.mktemp("runtime"))
    runtime = stages[-1]
    for args in runtime.all("COPY"):
        source_stage, sources, dest = copy_args(args)
        if source_stage:
            assert source_stage == stages[0].name
            paths = []
            for src in sources:
                matches = glob.glob(built + src)
                assert matches, "COPY --from=%s %s: nothing" % (
                    source_stage, src)
                paths += matches
        else:
            paths = [os.path.join(REPO, s) for s in sources]
        copy_into(paths, root + dest)
    install = install_step(runtime)
    debs = re.findall(r"(/\S+)\*\.deb", install)
    assert debs, install
    control = str(tmp_path_factory.mktemp("control"))
    links = {}
    for deb in sorted(glob.glob(root + debs[0] + "*.deb")):
        subprocess.run(["dpkg", "-x", deb, root], check=True)
        links.update(enabled_links(postinst(
            deb, os.path.join(control, os.path.basename(deb)))))
    # nginx itself and curl need no layout: the system's nginx runs
    for name in archive_packages(runtime):
        if name.startswith("libnginx-mod-"):
            links.update(enabled_links(lay_out_installed(name, root)))
    enabled = os.path.join(root, "etc/nginx/modules-enabled")
    os.makedirs(enabled, exist_ok=True)
    for src, dst in links.items():
        snippet = root + "/usr/share/nginx/modules-available/" + src
        assert os.path.isfile(snippet), snippet
        os.symlink(snippet, os.path.join(enabled, dst))
    # from the nginx-common package, which apt installs with nginx
    shutil.copy("/etc/nginx/mime.types", root + "/etc/nginx/mime.types")
    return root


def test_runtime_packages_exist_in_the_archive(stages):
    names = archive_packages(stages[-1])
    assert "nginx" in names
    # the stream module runs inside Debian's ngx_stream_module.so
    assert "libnginx-mod-stream" in names
    for name in names:
        p = subprocess.run(["apt-cache", "show", name], capture_output=True,
                           text=True)
        assert p.returncode == 0 and p.stdout, "no package " + name


def test_runtime_copies_every_package_the_build_stage_made(stages, built):
    made = sorted(os.path.basename(p) for p in glob.glob(
        built + "/src/build/deb/*.deb") if "-dbgsym_" not in p)
    assert {p.split("_")[0] for p in made} == {
        "libnginx-mod-http-nitro-attest", "libnginx-mod-stream-nitro-attest",
        "nitro-attest"}
    copied = []
    for args in stages[-1].all("COPY"):
        source_stage, sources, dest = copy_args(args)
        if source_stage:
            copied += [os.path.basename(p) for src in sources
                       for p in glob.glob(built + src)]
    assert sorted(copied) == made


def test_image_holds_module_cli_and_examples(rootfs):
    for so in ("ngx_http_nitro_attest_module.so",
               "ngx_stream_nitro_attest_module.so", "ngx_stream_module.so"):
        assert os.path.isfile(rootfs + "/usr/lib/nginx/modules/" + so), so
    # nginx.conf includes modules-enabled/*.conf in name order: the stream
    # module after Debian's
    assert sorted(os.listdir(rootfs + "/etc/nginx/modules-enabled")) == [
        "50-mod-http-nitro-attest.conf", "50-mod-stream.conf",
        "70-mod-stream-nitro-attest.conf"]
    assert os.access(rootfs + "/usr/bin/nitro-attest", os.X_OK)
    examples = sorted(os.listdir(rootfs + "/etc/nginx/conf-examples"))
    assert examples == sorted(os.listdir(os.path.join(REPO,
                                                      "conf-examples")))


class Image:
    """The image's nginx configuration, with its paths moved into the
    scratch root and its status listener on a free port."""

    def __init__(self, rootfs, stages):
        self.root = rootfs
        self.logs = os.path.join(rootfs, "var/log/nginx")
        os.makedirs(self.logs, exist_ok=True)
        self.port = nginx.free_ports(1)[0]
        _, self.health = healthcheck(stages[-1])
        self.image_port = re.search(r"127\.0\.0\.1:(\d+)",
                                    self.health).group(1)
        for conf in glob.glob(rootfs + "/etc/nginx/*.conf") + \
                glob.glob(rootfs + "/etc/nginx/conf.d/*.conf"):
            with open(conf) as f:
                text = f.read()
            text = (text.replace("/etc/nginx/", rootfs + "/etc/nginx/")
                    .replace("/var/log/nginx/", self.logs + "/")
                    .replace("/run/nginx.pid", rootfs + "/nginx.pid")
                    .replace("127.0.0.1:%s;" % self.image_port,
                             "127.0.0.1:%d;" % self.port))
            with open(conf, "w") as f:
                f.write(text)
        self.conf = rootfs + "/etc/nginx/nginx.conf"
        # "load_module modules/..." in the packaged snippet is relative to
        # the prefix, /usr/share/nginx/ -> /usr/lib/nginx/ on Debian
        self.argv = [nginx.NGINX, "-p", rootfs + "/usr/lib/nginx/", "-c",
                     self.conf]

    def test(self):
        return subprocess.run(self.argv + ["-t"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=30)


@pytest.fixture(scope="module")
def image(rootfs, stages):
    return Image(rootfs, stages)


def nginx_t_or_skip(image):
    p = image.test()
    if "nitro_attest_status\" is not supported yet" in p.stdout:
        pytest.skip("this build of the module has no nitro_attest_status")
    return p


def test_image_configuration_passes_nginx_t(image):
    p = nginx_t_or_skip(image)
    assert p.returncode == 0, p.stdout


def test_healthcheck_succeeds_against_the_running_image(image, stages):
    nginx_t_or_skip(image)
    cmd = json.loads(stages[-1].one("CMD"))
    assert cmd[0] == "nginx"
    proc = subprocess.Popen(image.argv + cmd[1:], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while not nginx.Nginx._answers(image.port):
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.time() < deadline, "nginx did not listen"
            time.sleep(0.05)
        health = image.health.replace("127.0.0.1:%s" % image.image_port,
                                      "127.0.0.1:%d" % image.port)
        p = subprocess.run(["sh", "-c", health], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 0, (health, p.stdout, p.stderr)
    finally:
        # STOPSIGNAL to the master (this process: daemon off): a graceful stop
        if proc.poll() is None:
            proc.send_signal(getattr(signal, stages[-1].one("STOPSIGNAL")))
        assert proc.wait(15) == 0
