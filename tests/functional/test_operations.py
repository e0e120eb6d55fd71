"""Operating it: provision from one command or one CloudFormation template, presigned uploads, submit,
the DLQ tools, and the deploy files (systemd unit, alert rules, dashboard) checked by their own tools."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
import uuid

import boto3
import pytest
import requests

from tests.support.waiting import wait_for
from worker.ops.presign import presigned_post, submit
from worker.parent.metrics import Metrics

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DEPLOY = os.path.join(ROOT, "deploy")


def worker_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_provision_is_idempotent_and_wires_s3_to_sqs(moto_endpoint):
    name = "p" + uuid.uuid4().hex[:10]
    args = [
        "provision",
        "--temp-bucket",
        f"{name}-up",
        "--production-bucket",
        f"{name}-out",
        "--queue-name",
        name,
    ]
    first, second = worker_cli(*args), worker_cli(*args)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    env = dict(line.split("=", 1) for line in first.stdout.splitlines() if not line.startswith("#"))
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=env["MEDIA_WORKER_QUEUE_URL"], AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    assert policy["maxReceiveCount"] in (4, "4") and policy["deadLetterTargetArn"].endswith(f"{name}-dlq")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=f"{name}-up")["Rules"]
    assert rules[0]["Expiration"]["Days"] == 7
    s3.put_object(Bucket=f"{name}-up", Key="hello.mp4", Body=b"x")
    bodies = []
    wait_for(
        lambda: (
            bodies.extend(
                m["Body"]
                for m in sqs.receive_message(
                    QueueUrl=env["MEDIA_WORKER_QUEUE_URL"], MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            )
            or any("hello.mp4" in b for b in bodies)
        ),
        timeout=30,
    )


@pytest.mark.parametrize(
    "delivery, extra",
    [("sns", []), ("sns", ["--raw-delivery"]), ("eventbridge", [])],
    ids=["sns", "sns-raw", "eventbridge"],
)
def test_provision_delivery_through_sns_or_eventbridge_is_idempotent_and_switchable(
    moto_endpoint, delivery, extra
):
    name = "p" + uuid.uuid4().hex[:10]
    args = [
        "provision",
        "--temp-bucket",
        f"{name}-up",
        "--production-bucket",
        f"{name}-out",
        "--queue-name",
        name,
    ]
    straight = worker_cli(*args)  # first straight to SQS, then switched: the other path is turned off
    first, second = (
        worker_cli(*args, "--delivery", delivery, *extra),
        worker_cli(*args, "--delivery", delivery, *extra),
    )
    assert straight.returncode == first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    env = dict(line.split("=", 1) for line in first.stdout.splitlines() if not line.startswith("#"))
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    notification = s3.get_bucket_notification_configuration(Bucket=f"{name}-up")
    assert not notification.get("QueueConfigurations"), "the straight path is off"
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=env["MEDIA_WORKER_QUEUE_URL"], AttributeNames=["Policy"])[
            "Attributes"
        ]["Policy"]
    )
    allowed = {
        st["Principal"]["Service"]: st["Condition"]["ArnLike"]["aws:SourceArn"] for st in policy["Statement"]
    }
    assert allowed["s3.amazonaws.com"] == f"arn:aws:s3:::{name}-up", (
        "the straight path's sender stays allowed"
    )
    dlq_policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=env["MEDIA_WORKER_QUEUE_URL"] + "-dlq", AttributeNames=["Policy"])[
            "Attributes"
        ]["Policy"]
    )
    assert {st["Principal"]["Service"] for st in dlq_policy["Statement"]} == {
        "sns.amazonaws.com",
        "events.amazonaws.com",
    }
    if delivery == "sns":
        topic = env["MEDIA_WORKER_SNS_TOPIC_ARNS"]
        assert notification["TopicConfigurations"][0]["TopicArn"] == topic
        assert allowed["sns.amazonaws.com"] == topic
        subs = boto3.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert len(subs) == 1, "subscribing again made no second subscription"
        attributes = boto3.client("sns").get_subscription_attributes(
            SubscriptionArn=subs[0]["SubscriptionArn"]
        )["Attributes"]
        assert attributes.get("RawMessageDelivery", "false") == ("true" if extra else "false")
        assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(f":{name}-dlq")
    else:
        # moto's answer leaves EventBridgeConfiguration out; the event arriving below shows it is on
        assert not notification.get("TopicConfigurations") and "MEDIA_WORKER_SNS_TOPIC_ARNS" not in env
        (target,) = boto3.client("events").list_targets_by_rule(Rule=f"{name}-uploads")["Targets"]
        assert target["Arn"].endswith(f":{name}") and target["DeadLetterConfig"]["Arn"].endswith(
            f":{name}-dlq"
        )
        assert (
            allowed["events.amazonaws.com"]
            == boto3.client("events").describe_rule(Name=f"{name}-uploads")["Arn"]
        )
    s3.put_object(Bucket=f"{name}-up", Key="hello.mp4", Body=b"x")
    bodies = []
    wait_for(
        lambda: (
            bodies.extend(
                m["Body"]
                for m in sqs.receive_message(
                    QueueUrl=env["MEDIA_WORKER_QUEUE_URL"], MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            )
            or any("hello.mp4" in b for b in bodies)
        ),
        timeout=30,
    )
    assert sum("hello.mp4" in b for b in bodies) == 1, "one path only: one event per upload"


def test_presigned_post_carries_the_size_limit_and_uploads(stack):
    form = presigned_post(stack.s3, stack.resources.temp_bucket, "web/a.mp4", 1234)
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, 1234] in policy["conditions"]
    # moto's server takes the form over HTTP as S3 does (it does not enforce the range; AWS does)
    resp = requests.post(form["url"], data=form["fields"], files={"file": ("a.mp4", b"x" * 100)}, timeout=30)
    assert resp.status_code == 204
    assert stack.s3.head_object(Bucket=stack.resources.temp_bucket, Key="web/a.mp4")["ContentLength"] == 100
    cli = worker_cli("presign", "web/b.mp4", "--bucket", stack.resources.temp_bucket, "--max-size", "99")
    assert (
        cli.returncode == 0
        and ["content-length-range", 1, 99]
        in json.loads(base64.b64decode(json.loads(cli.stdout)["fields"]["policy"]))["conditions"]
    )


def test_submit_uploads_files_with_progress(stack, media):
    cli = worker_cli(
        "submit", media["clip"], media["mp3"], "--bucket", stack.resources.temp_bucket, "--prefix", "cli/"
    )
    assert cli.returncode == 0, cli.stderr
    assert "uploading" in cli.stderr  # click draws the bar itself only on a terminal
    lines = cli.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [
        f"s3://{stack.resources.temp_bucket}/cli/clip.mp4",
        f"s3://{stack.resources.temp_bucket}/cli/tone.mp3",
    ]
    head = stack.s3.head_object(Bucket=stack.resources.temp_bucket, Key="cli/clip.mp4")
    assert (
        head["ContentLength"] == os.path.getsize(media["clip"])
        and head["ETag"].strip('"') == lines[0].split("\t")[1]
    )
    progress = []  # what feeds the bar: every byte reported once
    submit(stack.s3, stack.resources.temp_bucket, media["big"], "cli/big.mp4", progress.append)
    assert sum(progress) == os.path.getsize(media["big"])


def test_dlq_inspect_then_redrive(stack):
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.resources.temp_bucket},
                    "object": {"key": "stuck+one.mp4", "size": 5, "eTag": "e"},
                },
            }
        ]
    }
    stack.sqs.send_message(QueueUrl=stack.resources.dlq_url, MessageBody=json.dumps(event))
    stack.sqs.send_message(QueueUrl=stack.resources.dlq_url, MessageBody="not json")
    env = {
        "MEDIA_WORKER_QUEUE_URL": stack.resources.queue_url,
        "MEDIA_WORKER_TEMP_BUCKET": stack.resources.temp_bucket,
    }
    inspected = worker_cli("dlq", "inspect", env=env)
    assert inspected.returncode == 0, inspected.stderr
    letters = [json.loads(line) for line in inspected.stdout.splitlines()]
    assert sorted(tuple(x["keys"]) for x in letters) == [(), ("stuck one.mp4",)]
    assert [x["problem"] for x in letters if not x["keys"]][0].startswith("malformed_message")
    assert stack.counts(stack.resources.dlq_url)[0] == 2, "inspect leaves the messages where they are"
    stack.drain_test_event()
    moved = worker_cli("dlq", "redrive", env=env)
    assert moved.returncode == 0 and "moved 2 messages" in moved.stdout
    assert stack.counts(stack.resources.dlq_url) == (0, 0) and stack.counts()[0] == 2


@pytest.mark.parametrize("delivery", ["sqs", "sns", "eventbridge"])
def test_cloudformation_template_passes_cfn_lint_and_deploys_into_moto(moto_endpoint, delivery):
    template = os.path.join(DEPLOY, "cloudformation", "media-worker.yaml")
    lint = subprocess.run(["cfn-lint", template], capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    ec2, cfn = boto3.client("ec2"), boto3.client("cloudformation")
    name = "cf" + uuid.uuid4().hex[:8]
    params = {
        "TempBucketName": f"{name}-up",
        "ProductionBucketName": f"{name}-out",
        "QueueName": name,
        "ImageId": ec2.describe_images()["Images"][0]["ImageId"],
        "Subnets": ec2.describe_subnets()["Subnets"][0]["SubnetId"],
        "Delivery": delivery,
    }
    cfn.create_stack(
        StackName=name,
        TemplateBody=open(template).read(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert_delivery_wired(delivery, outputs, template)
    sqs = boto3.client("sqs")
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"].endswith(f"{name}-dlq")
    boto3.client("s3").head_bucket(Bucket=f"{name}-out")
    role = outputs["WorkerRoleArn"].rsplit("/", 1)[1]
    policy = boto3.client("iam").get_role_policy(RoleName=role, PolicyName="media-worker")["PolicyDocument"]
    if isinstance(policy, str):  # moto keeps a CloudFormation-made inline policy as a Python repr
        policy = ast.literal_eval(policy)
    actions = {
        a
        for st in policy["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert "sqs:DeleteMessage" in actions and not any(a.endswith("*") for a in actions), "least privilege"
    on = {}  # resource (as the template spells it) → actions
    for st in policy["Statement"]:
        for resource in [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]:
            on.setdefault(str(resource), set()).update(
                [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            )
    temp_bucket = next(v for r, v in on.items() if r.endswith(f":::{name}-up"))
    assert "s3:ListBucket" in temp_bucket, "without it a missing upload answers 403, not 404"
    assert "sqs:SendMessage" in next(v for r, v in on.items() if r.endswith(f":{name}")), (
        "re-sending on drains"
    )
    production_objects = next(v for r, v in on.items() if r.endswith(f":::{name}-out/*"))
    assert {"s3:DeleteObject", "s3:AbortMultipartUpload"} <= production_objects
    # moto's CloudFormation does not apply bucket versioning or lifecycle rules: read them from the template
    from cfnlint.decode import cfn_yaml

    resources = cfn_yaml.load(template)["Resources"]
    temp_props, production_props = (
        resources["TempBucket"]["Properties"],
        resources["ProductionBucket"]["Properties"],
    )
    assert temp_props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert any("NoncurrentVersionExpiration" in r for r in temp_props["LifecycleConfiguration"]["Rules"])
    assert any(
        "AbortIncompleteMultipartUpload" in r for r in production_props["LifecycleConfiguration"]["Rules"]
    ), "killed multipart uploads must not leak"
    groups = boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert any((g["MinSize"], g["MaxSize"]) == (1, 10) for g in groups)


def resolved(node, conditions: dict[str, bool]):
    """A template node with its Fn::If taken as ``conditions`` say (AWS::NoValue drops the key)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolved(yes if conditions[name] else no, conditions)
        out = {k: resolved(v, conditions) for k, v in node.items()}
        return {k: v for k, v in out.items() if v != {"Ref": "AWS::NoValue"}}
    if isinstance(node, list):
        return [resolved(v, conditions) for v in node]
    return node


def assert_delivery_wired(delivery: str, outputs: dict, template: str) -> None:
    """What ``Delivery`` makes of the template: moto's CloudFormation skips bucket notifications, the SNS
    subscription and the rule, so those are read from the template with its conditions resolved."""
    from cfnlint.decode import cfn_yaml

    conditions = {
        "DeliverStraight": delivery == "sqs",
        "DeliverThroughSns": delivery == "sns",
        "DeliverThroughEventBridge": delivery == "eventbridge",
    }
    doc = cfn_yaml.load(template)
    made = {
        name: resolved(r, conditions)
        for name, r in doc["Resources"].items()
        if conditions.get(r.get("Condition"), True)
    }
    notification = made["TempBucket"]["Properties"]["NotificationConfiguration"]
    statements = made["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    # every path's sender is allowed whatever the Delivery (a change of paths refuses no event), each pinned
    senders = {
        st["Principal"]["Service"]: st["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
        for st in statements
    }
    assert senders == {
        "s3.amazonaws.com": "arn:${AWS::Partition}:s3:::${TempBucketName}",
        "sns.amazonaws.com": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:"
        "${QueueName}-uploads",
        "events.amazonaws.com": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:"
        "rule/${QueueName}-uploads",
    }
    assert statements[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    to_queue, to_dlq = {"Fn::GetAtt": ["Queue", "Arn"]}, {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    if delivery == "sqs":
        assert notification == {"QueueConfigurations": [{"Event": "s3:ObjectCreated:*", "Queue": to_queue}]}
        assert not {"UploadTopic", "UploadRule"} & set(made)
    elif delivery == "sns":
        assert notification == {
            "TopicConfigurations": [{"Event": "s3:ObjectCreated:*", "Topic": {"Ref": "UploadTopic"}}]
        }
        assert made["UploadTopic"]["Properties"]["TopicName"] == {"Fn::Sub": "${QueueName}-uploads"}
        subscription = made["UploadSubscription"]["Properties"]
        assert (
            subscription["Endpoint"] == to_queue
            and subscription["RedrivePolicy"]["deadLetterTargetArn"] == to_dlq
        )
        assert made["TempBucket"]["Metadata"]["WaitsFor"] == {"Ref": "UploadTopicPolicy"}
        assert outputs["UploadTopicArn"] in [
            t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]
        ]
    else:
        assert notification == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
        rule = made["UploadRule"]["Properties"]
        assert rule["Name"] == {"Fn::Sub": "${QueueName}-uploads"}
        assert rule["Targets"][0]["Arn"] == to_queue and rule["Targets"][0]["DeadLetterConfig"] == {
            "Arn": to_dlq
        }
        assert rule["EventPattern"]["detail"]["bucket"]["name"] == [{"Ref": "TempBucketName"}]


def test_systemd_unit_verifies(tmp_path):
    unit = open(os.path.join(DEPLOY, "systemd", "media-worker.service")).read()
    for needed in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "TimeoutStopSec=120",
        "SupplementaryGroups=docker",
    ):
        assert needed in unit
    # the drain (60 s by default) must end before systemd's stop timeout kills the service
    assert int(re.search(r"TimeoutStopSec=(\d+)", unit).group(1)) > 60
    local = tmp_path / "media-worker.service"
    local.write_text(
        unit.replace("/opt/media-worker/venv/bin/python", sys.executable).replace(
            "EnvironmentFile=/etc/media-worker/env", f"EnvironmentFile=-{tmp_path}/env"
        )
    )
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(local)], capture_output=True, text=True
    )
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr


def test_alert_rules_pass_promtool_and_name_only_real_metrics():
    rules = os.path.join(DEPLOY, "prometheus", "alerts.yml")
    check = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 7 rules found" in check.stdout, check.stdout + check.stderr
    config = subprocess.run(
        ["promtool", "check", "config", os.path.join(DEPLOY, "prometheus", "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert config.returncode == 0, config.stdout + config.stderr
    exposed = exposed_metric_names()
    used = set(re.findall(r"media_worker_[a-z_]+", open(rules).read()))
    assert used and {base_name(n) for n in used} <= exposed, used - exposed


def test_dashboard_queries_name_only_real_metrics():
    doc = json.load(open(os.path.join(DEPLOY, "grafana", "media-worker.json")))
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    used = {base_name(n) for e in exprs for n in re.findall(r"media_worker_[a-z_]+", e)}
    assert len(doc["panels"]) >= 10 and used <= exposed_metric_names(), used - exposed_metric_names()
    assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])


def base_name(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def exposed_metric_names() -> set[str]:
    from prometheus_client import generate_latest

    text = generate_latest(Metrics().registry).decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(name + ("_total" if kind == "counter" else "_info" if kind == "info" else ""))
            names.add(name)
    return names


def test_dlq_inspect_sees_every_message_not_the_same_ten(stack):
    for i in range(25):
        stack.sqs.send_message(QueueUrl=stack.resources.dlq_url, MessageBody=f"letter {i}")
    from worker.clients import sqs_client
    from worker.ops.dlq import inspect

    letters = inspect(sqs_client(0), stack.resources.dlq_url, stack.resources.temp_bucket, limit=100)
    assert sorted(x.body for x in letters) == sorted(f"letter {i}" for i in range(25))
    assert stack.counts(stack.resources.dlq_url) == (25, 0), "all visible again"
