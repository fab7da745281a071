from services.realtime.presence import Presence


def test_listening_follows_joins_leaves_and_disconnects():
    presence = Presence()
    presence.connect("a")
    presence.connect("b")
    assert not presence.listening("live_update")
    presence.join("a", "admin", seq=1)
    presence.join("a", "admin", seq=2)  # joining twice is still one member
    presence.join("b", "admin", seq=2)
    presence.leave("b", "admin")
    presence.leave("b", "admin")  # leaving a room it is not in changes nothing
    assert presence.listening("live_update")
    assert presence.counts() == {"sockets": 2, "streams": 0, "rooms": {"admin": 1}}
    presence.disconnect("a")
    assert not presence.listening("live_update")
    assert presence.counts() == {"sockets": 1, "streams": 0, "rooms": {}}


def test_sse_streams_listen_per_channel():
    presence = Presence()
    presence.open_stream(("transaction",))
    assert presence.listening("transaction") and not presence.listening("activity")
    presence.close_stream(("transaction",))
    assert not presence.listening("transaction")


def test_rooms_of_remembers_the_seq_of_joining():
    presence = Presence()
    presence.join("a", "metrics", seq=7)
    assert presence.rooms_of("a") == {"metrics": 7}
    presence.disconnect("a")
    presence.disconnect("a")  # a second disconnect is harmless
    assert presence.rooms_of("a") == {} and presence.counts()["rooms"] == {}
