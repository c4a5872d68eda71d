"""Seed a local NetBox 4.7 with the reference users, permissions, objects and tokens.

Run with NETBOX_ROOT and DJANGO_SETTINGS_MODULE=netbox.settings set, using the NetBox venv's
python (scripts/netbox-dev.sh does this). Every step looks up before it creates, so running it
again changes nothing. Generated passwords and token values are kept in <state>/credentials.json
and reused, so the values in seed.json stay the same across runs and database rebuilds.
"""

import argparse
import datetime
import json
import os
import secrets
import string
import sys

import django

ALPHANUMERIC = string.ascii_letters + string.digits

# name -> (user, version, attributes). v1 values are 40 lowercase hex characters on purpose:
# older NetBox releases made such tokens and 4.7 still accepts them.
TOKENS = {
    'ADMIN_V1': ('admin', 1, {}),
    'ADMIN_V2': ('admin', 2, {}),
    'ALICE_V1': ('alice', 1, {}),
    'ALICE_V2': ('alice', 2, {}),
    'ALICE_V2_READONLY': ('alice', 2, {'write_enabled': False}),
    'ADMIN_V2_EXPIRED': ('admin', 2, {'expired': True}),
    'ADMIN_V1_DISABLED': ('admin', 1, {'enabled': False}),
    'BOB_V2': ('bob', 2, {}),
    'ADMIN_V2_ALLOWED_IPS': ('admin', 2, {'allowed_ips': ['127.0.0.2/32']}),
}

OPERATOR_VIEW_MODELS = [
    ('dcim', 'site'),
    ('dcim', 'manufacturer'),
    ('dcim', 'devicetype'),
    ('dcim', 'devicerole'),
    ('virtualization', 'clustertype'),
    ('virtualization', 'cluster'),
    ('virtualization', 'virtualmachine'),
    ('extras', 'tag'),
]

SITE_A_CONSTRAINT = {'site__slug': 'ref-site-a'}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--state', required=True, help='state directory holding credentials.json')
    parser.add_argument('--base-url', required=True, help='NetBox base URL written to seed.json')
    parser.add_argument('--output', required=True, help='path of seed.json')
    return parser.parse_args()


def random_text(length):
    return ''.join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def write_private_json(path, data):
    tmp = f'{path}.new'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write('\n')
    os.replace(tmp, path)


def load_credentials(state):
    """Returns passwords and token values, generating the missing ones once."""
    path = os.path.join(state, 'credentials.json')
    creds = {'passwords': {}, 'tokens': {}}
    if os.path.exists(path):
        with open(path) as handle:
            creds = json.load(handle)

    for username in ('admin', 'alice', 'bob'):
        creds['passwords'].setdefault(username, f'{username}-{random_text(16)}')

    for name, (_user, version, _attrs) in TOKENS.items():
        if name in creds['tokens']:
            continue
        if version == 1:
            creds['tokens'][name] = {'version': 1, 'plaintext': secrets.token_hex(20)}
        else:
            creds['tokens'][name] = {'version': 2, 'key': random_text(12), 'secret': random_text(40)}

    write_private_json(path, creds)
    return creds


def ensure_user(User, username, password, **fields):
    user, created = User.objects.get_or_create(username=username, defaults=fields)
    changed = created
    for field, value in fields.items():
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed = True
    if created or not user.check_password(password):
        user.set_password(password)
        changed = True
    if changed:
        user.save()
    return user


def ensure_permission(ObjectPermission, ObjectType, name, models, actions, constraints, groups=(), users=()):
    perm, _ = ObjectPermission.objects.get_or_create(
        name=name,
        defaults={'actions': actions, 'constraints': constraints, 'enabled': True},
    )
    perm.actions = actions
    perm.constraints = constraints
    perm.enabled = True
    perm.save()
    perm.object_types.set([ObjectType.objects.get_by_natural_key(app, model) for app, model in models])
    perm.groups.set(list(groups))
    perm.users.set(list(users))
    return perm


def ensure_users_and_permissions(creds):
    from core.models import ObjectType
    from users.models import Group, ObjectPermission, User

    pw = creds['passwords']
    admin = ensure_user(
        User, 'admin', pw['admin'], email='admin@example.invalid', is_superuser=True, is_active=True,
    )
    alice = ensure_user(
        User, 'alice', pw['alice'], first_name='Alice', last_name='Reference',
        email='alice@example.invalid', is_superuser=False, is_active=True,
    )
    bob = ensure_user(
        User, 'bob', pw['bob'], email='bob@example.invalid', is_superuser=False, is_active=True,
    )

    operators, _ = Group.objects.get_or_create(name='operators', defaults={'description': 'read-mostly group'})
    alice.groups.set([operators])
    bob.groups.clear()

    ensure_permission(
        ObjectPermission, ObjectType, 'operators-view', OPERATOR_VIEW_MODELS, ['view'], None,
        groups=[operators],
    )
    ensure_permission(
        ObjectPermission, ObjectType, 'operators-view-site-a-devices', [('dcim', 'device')], ['view'],
        SITE_A_CONSTRAINT, groups=[operators],
    )
    ensure_permission(
        ObjectPermission, ObjectType, 'alice-change-site-a-devices', [('dcim', 'device')], ['change'],
        SITE_A_CONSTRAINT, users=[alice],
    )
    return {'admin': admin, 'alice': alice, 'bob': bob}, operators


def ensure_objects():
    from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
    from extras.models import Tag
    from virtualization.models import Cluster, ClusterType, VirtualMachine

    site_a, _ = Site.objects.get_or_create(slug='ref-site-a', defaults={'name': 'Ref Site A'})
    site_b, _ = Site.objects.get_or_create(slug='ref-site-b', defaults={'name': 'Ref Site B'})
    vendor, _ = Manufacturer.objects.get_or_create(slug='refvendor', defaults={'name': 'RefVendor'})
    dtype, _ = DeviceType.objects.get_or_create(
        slug='refbox-1000', defaults={'manufacturer': vendor, 'model': 'RefBox 1000'},
    )
    role, _ = DeviceRole.objects.get_or_create(
        slug='ref-router', defaults={'name': 'Ref Router', 'color': '2196f3'},
    )
    tag, _ = Tag.objects.get_or_create(slug='ref-tag', defaults={'name': 'ref-tag', 'color': '9e9e9e'})

    devices = {}
    for index, site in ((1, site_a), (2, site_a), (3, site_b)):
        name = f'ref-dev-{index}'
        device = Device.objects.filter(name=name, site=site).first()
        if device is None:
            device = Device(
                name=name, site=site, device_type=dtype, role=role, status='active',
                description=f'reference device {index}',
            )
            device.full_clean()
            device.save()
        devices[name] = device

    ctype, _ = ClusterType.objects.get_or_create(slug='ref-cluster-type', defaults={'name': 'Ref Cluster Type'})
    cluster, _ = Cluster.objects.get_or_create(name='ref-cluster-1', defaults={'type': ctype})

    vms = {}
    for index in (1, 2):
        name = f'ref-vm-{index}'
        vm = VirtualMachine.objects.filter(name=name, cluster=cluster).first()
        if vm is None:
            vm = VirtualMachine(
                name=name, cluster=cluster, status='active', vcpus=2, memory=1024,
                description=f'reference vm {index}',
            )
            vm.full_clean()
            vm.save()
        vms[name] = vm

    for tagged in (devices['ref-dev-1'], vms['ref-vm-1']):
        if not tagged.tags.filter(pk=tag.pk).exists():
            tagged.tags.add(tag)

    return {
        'sites': {'ref-site-a': site_a, 'ref-site-b': site_b},
        'devices': devices,
        'vms': vms,
        'cluster': cluster,
        'tag': tag,
    }


def ensure_token(Token, user, spec, attrs):
    from django.utils import timezone

    if spec['version'] == 1:
        token = Token.objects.filter(version=1, plaintext=spec['plaintext']).first()
        if token is None:
            token = Token(version=1, user=user, token=spec['plaintext'])
        value = spec['plaintext']
    else:
        token = Token.objects.filter(version=2, key=spec['key']).first()
        if token is None:
            token = Token(version=2, user=user, key=spec['key'], token=spec['secret'])
        value = f"nbt_{spec['key']}.{spec['secret']}"

    token.user = user
    token.enabled = attrs.get('enabled', True)
    token.write_enabled = attrs.get('write_enabled', True)
    token.allowed_ips = attrs.get('allowed_ips')
    if attrs.get('expired'):
        if token.expires is None or token.expires > timezone.now():
            token.expires = timezone.now() - datetime.timedelta(days=1)
    else:
        token.expires = None
    token.save()
    return token, value


def ensure_tokens(creds, users):
    from users.models import Token

    values, details = {}, {}
    for name, (username, version, attrs) in TOKENS.items():
        token, value = ensure_token(Token, users[username], creds['tokens'][name], attrs)
        values[name] = value
        details[name] = {
            'id': token.pk,
            'user': username,
            'version': version,
            'key': token.key,
            'enabled': token.enabled,
            'write_enabled': token.write_enabled,
            'expires': token.expires.isoformat() if token.expires else None,
            'allowed_ips': [str(net) for net in token.allowed_ips or []],
        }
    return values, details


def brief(obj, **extra):
    return {'id': obj.pk, 'name': obj.name, **extra}


def build_seed(args, creds, users, operators, objects, token_values, token_details):
    from django.conf import settings

    return {
        'netbox_url': args.base_url.rstrip('/'),
        'netbox_version': settings.RELEASE.version,
        'users': {
            name: {
                'id': user.pk,
                'username': user.username,
                'password': creds['passwords'][name],
                'is_superuser': user.is_superuser,
                'groups': [group.name for group in user.groups.all()],
            }
            for name, user in users.items()
        },
        'groups': {'operators': {'id': operators.pk, 'name': operators.name}},
        'tokens': token_values,
        'token_details': token_details,
        'sites': {slug: brief(site, slug=slug) for slug, site in objects['sites'].items()},
        'devices': {
            name: brief(dev, site=dev.site.slug, visible_to_alice=dev.site.slug == 'ref-site-a')
            for name, dev in objects['devices'].items()
        },
        'virtual_machines': {name: brief(vm, cluster=vm.cluster.name) for name, vm in objects['vms'].items()},
        'cluster': brief(objects['cluster']),
        'tag': {'id': objects['tag'].pk, 'slug': objects['tag'].slug, 'name': objects['tag'].name},
        'alice_device_constraint': SITE_A_CONSTRAINT,
    }


def main():
    args = parse_args()
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netbox.settings')
    django.setup()

    from django.db import transaction

    creds = load_credentials(args.state)
    with transaction.atomic():
        users, operators = ensure_users_and_permissions(creds)
        objects = ensure_objects()
        token_values, token_details = ensure_tokens(creds, users)

    seed = build_seed(args, creds, users, operators, objects, token_values, token_details)
    write_private_json(args.output, seed)
    print(f'seed written to {args.output}', file=sys.stderr)


if __name__ == '__main__':
    main()
