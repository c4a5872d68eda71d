"""The deployment examples under deploy/ are valid: Kubernetes schemas offline, systemd's verifier."""

import pathlib
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO_ROOT / 'deploy' / 'kubernetes'
SYSTEMD_UNIT = REPO_ROOT / 'deploy' / 'systemd' / 'netbox-secrets-proxy.service'

# A schema set bundled with kubernetes-validate, so validation needs no network.
KUBERNETES_VERSION = '1.33.0'

PROXY_CONTAINER = 'secrets-proxy'
PROXY_PORT = 8000
NETBOX_PORT = 8080

MANIFESTS = sorted(KUBERNETES_DIR.glob('*.yaml'))


def documents(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def by_kind(docs, kind):
    return [doc for doc in docs if doc['kind'] == kind]


def test_there_are_manifests():
    assert MANIFESTS, f'no manifests in {KUBERNETES_DIR}'


@pytest.mark.parametrize('path', MANIFESTS, ids=lambda p: p.name)
def test_manifest_matches_the_kubernetes_schemas(path):
    for doc in documents(path):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def proxy_deployment():
    docs = documents(KUBERNETES_DIR / 'netbox-with-secrets-proxy.yaml')
    deployments = by_kind(docs, 'Deployment')
    assert len(deployments) == 1
    return docs, deployments[0]


def container(deployment, name):
    containers = {c['name']: c for c in deployment['spec']['template']['spec']['containers']}
    assert name in containers, f'no container {name}; have {sorted(containers)}'
    return containers[name]


def test_proxy_sidecar_points_at_netbox_in_the_pod():
    docs, deployment = proxy_deployment()
    proxy = container(deployment, PROXY_CONTAINER)
    config = {key: value for cm in by_kind(docs, 'ConfigMap') for key, value in cm.get('data', {}).items()}

    args = proxy['args']
    upstream = args[args.index('--upstream') + 1]
    if upstream.startswith('$('):
        upstream = config[upstream[2:-1]]

    assert upstream == f'http://127.0.0.1:{NETBOX_PORT}'
    assert [port['containerPort'] for port in proxy['ports']] == [PROXY_PORT]


def test_proxy_has_probes_and_persistent_data():
    _docs, deployment = proxy_deployment()
    proxy = container(deployment, PROXY_CONTAINER)

    assert proxy['readinessProbe']['httpGet']['path'] == '/-/ready'
    assert proxy['livenessProbe']['httpGet']['path'] == '/-/live'
    assert {m['mountPath'] for m in proxy['volumeMounts']} == {'/data'}
    # SQLite has one writer: never two pods on the same store.
    assert deployment['spec']['replicas'] == 1
    assert deployment['spec']['strategy']['type'] == 'Recreate'


def test_service_targets_the_proxy_not_netbox():
    docs, deployment = proxy_deployment()
    proxy = container(deployment, PROXY_CONTAINER)
    port_names = {port['name']: port['containerPort'] for port in proxy['ports']}

    services = by_kind(docs, 'Service')
    assert services
    for service in services:
        for port in service['spec']['ports']:
            target = port['targetPort']
            assert port_names.get(target, target) == PROXY_PORT


def test_service_token_comes_from_a_secret():
    docs, deployment = proxy_deployment()
    proxy = container(deployment, PROXY_CONTAINER)
    secret_names = {doc['metadata']['name'] for doc in by_kind(docs, 'Secret')}

    refs = [src['secretRef']['name'] for src in proxy.get('envFrom', []) if 'secretRef' in src]
    assert refs
    assert set(refs) <= secret_names


def test_systemd_unit_is_hardened():
    text = SYSTEMD_UNIT.read_text()
    settings = {}
    for line in text.splitlines():
        if '=' in line and not line.startswith('#'):
            key, value = line.split('=', 1)
            settings.setdefault(key.strip(), value.strip())

    for key, value in {
        'DynamicUser': 'yes',
        'StateDirectory': 'netbox-secrets-proxy',
        'ProtectSystem': 'strict',
        'NoNewPrivileges': 'yes',
        'PrivateTmp': 'yes',
    }.items():
        assert settings.get(key) == value, key
    assert '--data-dir /var/lib/netbox-secrets-proxy' in settings['ExecStart']


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which('systemd-analyze')
    if analyze is None:
        pytest.skip('systemd-analyze is not installed')

    # verify needs the ExecStart binary to exist; point it at a stand-in executable.
    stand_in = tmp_path / 'netbox-secrets-proxy'
    stand_in.write_text('#!/bin/sh\n')
    stand_in.chmod(0o755)
    unit = tmp_path / SYSTEMD_UNIT.name
    unit.write_text(SYSTEMD_UNIT.read_text().replace('/usr/local/bin/netbox-secrets-proxy', str(stand_in)))

    result = subprocess.run(
        [analyze, 'verify', str(unit)], capture_output=True, text=True, timeout=60, check=False,
    )

    problems = [
        line for line in (result.stderr + result.stdout).splitlines()
        if SYSTEMD_UNIT.name in line or 'Unknown' in line or 'Invalid' in line
    ]
    assert result.returncode == 0, result.stderr + result.stdout
    assert not problems, '\n'.join(problems)
