"""`Gossip.Read`: the cluster view of a single node, always the leader."""

from __future__ import annotations

import time
import uuid

import grpc
from esdbclient.protos.Grpc import gossip_pb2, gossip_pb2_grpc, shared_pb2

_TICKS_PER_SECOND = 10_000_000


class GossipService(gossip_pb2_grpc.GossipServicer):
    """Answers every gossip read with one alive leader at the advertised endpoint.

    The advertised host and port are what clients see in `read_gossip()`; discovery
    through a single member keeps the client on its seed target whatever they are.
    """

    def __init__(self, advertise_host: str, advertise_port: int) -> None:
        self._host = advertise_host
        self._port = advertise_port
        self._instance_id = str(uuid.uuid4())

    async def Read(  # noqa: N802 - gRPC method name
        self, request: shared_pb2.Empty, context: grpc.aio.ServicerContext[object, object]
    ) -> gossip_pb2.ClusterInfo:
        """Report this node as the cluster's only member, in state Leader."""
        member = gossip_pb2.MemberInfo(
            instance_id=shared_pb2.UUID(string=self._instance_id),
            time_stamp=int(time.time() * _TICKS_PER_SECOND),
            state=gossip_pb2.MemberInfo.VNodeState.Leader,
            is_alive=True,
            http_end_point=gossip_pb2.EndPoint(address=self._host, port=self._port),
        )
        return gossip_pb2.ClusterInfo(members=[member])
