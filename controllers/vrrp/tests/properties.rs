//! Property tests: the codec round-trips and never panics, and routers on a
//! simulated LAN always settle on exactly one master, the best one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hareconcile_vrrp::core::packet::{
    Addresses, AdvertV2, AdvertV3, Advertisement, Auth, ChecksumMode, Version, MULTICAST_V4,
    MULTICAST_V6,
};
use hareconcile_vrrp::core::{
    receive, Action, Input, Instance, InstanceConfig, State, Timer, Timestamp,
};
use proptest::prelude::*;

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        Just(Auth::None),
        any::<[u8; 8]>().prop_map(Auth::SimplePassword)
    ]
}

fn checksum_mode() -> impl Strategy<Value = ChecksumMode> {
    prop_oneof![
        Just(ChecksumMode::PseudoHeader),
        Just(ChecksumMode::MessageOnly)
    ]
}

/// An advertisement with the source and destination it travels between.
fn advert_in_flight() -> impl Strategy<Value = (Advertisement, IpAddr, IpAddr)> {
    let v2 = (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        auth(),
        prop::collection::vec(ipv4(), 0..20),
        ipv4(),
    )
        .prop_map(|(vrid, priority, secs, auth, addresses, src)| {
            let advert = AdvertV2 {
                vrid,
                priority,
                advert_interval_secs: secs,
                auth,
                addresses,
            };
            (
                Advertisement::V2(advert),
                IpAddr::V4(src),
                IpAddr::V4(MULTICAST_V4),
            )
        });
    let v3_v4 = (
        any::<u8>(),
        any::<u8>(),
        0..=0x0fffu16,
        prop::collection::vec(ipv4(), 0..20),
        ipv4(),
        ipv4(),
    )
        .prop_map(|(vrid, priority, centis, list, src, dst)| {
            let advert = AdvertV3 {
                vrid,
                priority,
                max_advert_interval_centis: centis,
                addresses: Addresses::V4(list),
            };
            (Advertisement::V3(advert), IpAddr::V4(src), IpAddr::V4(dst))
        });
    let v3_v6 = (
        any::<u8>(),
        any::<u8>(),
        0..=0x0fffu16,
        prop::collection::vec(ipv6(), 0..20),
        ipv6(),
    )
        .prop_map(|(vrid, priority, centis, list, src)| {
            let advert = AdvertV3 {
                vrid,
                priority,
                max_advert_interval_centis: centis,
                addresses: Addresses::V6(list),
            };
            (
                Advertisement::V3(advert),
                IpAddr::V6(src),
                IpAddr::V6(MULTICAST_V6),
            )
        });
    prop_oneof![v2, v3_v4, v3_v6]
}

proptest! {
    #[test]
    fn decode_inverts_encode((advert, src, dst) in advert_in_flight(), mode in checksum_mode()) {
        let bytes = advert.encode(src, dst, mode).unwrap();
        prop_assert_eq!(Advertisement::decode(&bytes, src, dst, mode), Ok(advert));
    }

    #[test]
    fn any_flipped_bit_is_rejected(
        (advert, src, dst) in advert_in_flight(),
        mode in checksum_mode(),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut bytes = advert.encode(src, dst, mode).unwrap();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        // One flipped bit always changes the one's-complement sum (even in
        // the ignored v3 reserved bits or v2 auth-none data, which are still
        // summed), if the header checks have not caught it already.
        prop_assert!(Advertisement::decode(&bytes, src, dst, mode).is_err());
    }

    #[test]
    fn decoder_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        v6 in any::<bool>(),
        mode in checksum_mode(),
    ) {
        let (src, dst) = if v6 {
            (IpAddr::V6(Ipv6Addr::LOCALHOST), IpAddr::V6(MULTICAST_V6))
        } else {
            (IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(MULTICAST_V4))
        };
        let _ = Advertisement::decode(&bytes, src, dst, mode);
    }
}

/// One router of the simulated LAN.
struct Router {
    instance: Instance,
    start: Timestamp,
    /// When this router shuts down for good, if it does.
    stop: Option<Timestamp>,
    running: bool,
    /// One deadline per timer, as a shell keeps them: re-arming replaces,
    /// cancelling clears, superseded queue entries are skipped.
    deadlines: [Option<Timestamp>; 3],
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Start(usize),
    Stop(usize),
    Timer(usize, TimerKey),
    Packet {
        to: usize,
        from: usize,
        bytes: Vec<u8>,
    },
}

/// `Timer` is not `Ord`; the queue needs a total order for ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Advert,
    MasterDown,
    PreemptDelay,
}

impl From<Timer> for TimerKey {
    fn from(timer: Timer) -> TimerKey {
        match timer {
            Timer::Advert => TimerKey::Advert,
            Timer::MasterDown => TimerKey::MasterDown,
            Timer::PreemptDelay => TimerKey::PreemptDelay,
        }
    }
}

impl From<TimerKey> for Timer {
    fn from(key: TimerKey) -> Timer {
        match key {
            TimerKey::Advert => Timer::Advert,
            TimerKey::MasterDown => Timer::MasterDown,
            TimerKey::PreemptDelay => Timer::PreemptDelay,
        }
    }
}

/// A lossless LAN with a fixed one-way delay. Adverts go through the real
/// encoder and the real receive checks, so the simulation covers the whole
/// core path a shell would use.
struct Lan {
    routers: Vec<Router>,
    queue: BinaryHeap<Reverse<(Timestamp, u64, Event)>>,
    seq: u64,
    /// Every state change: when, which router, new state.
    transitions: Vec<(Timestamp, usize, State)>,
}

const LAN_DELAY: Duration = Duration::from_micros(300);
/// Far more events than 80 s of adverts need: hitting it means two routers
/// answer each other's adverts forever (a livelock), which must fail fast.
const MAX_EVENTS: usize = 200_000;

impl Lan {
    fn new(routers: Vec<Router>) -> Lan {
        let mut lan = Lan {
            routers,
            queue: BinaryHeap::new(),
            seq: 0,
            transitions: Vec::new(),
        };
        for index in 0..lan.routers.len() {
            lan.push(lan.routers[index].start, Event::Start(index));
            if let Some(stop) = lan.routers[index].stop {
                lan.push(stop, Event::Stop(index));
            }
        }
        lan
    }

    fn push(&mut self, at: Timestamp, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, event)));
    }

    fn run_until(&mut self, end: Timestamp) {
        let mut handled = 0;
        while let Some(Reverse((now, _, event))) = self.queue.pop() {
            if now > end {
                break;
            }
            handled += 1;
            assert!(handled < MAX_EVENTS, "livelock: {handled} events by {now}");
            let (index, input) = match event {
                Event::Start(i) => {
                    self.routers[i].running = true;
                    (i, Input::Startup)
                }
                Event::Stop(i) => {
                    // Stops listening; its priority-0 advert still goes out.
                    self.routers[i].running = false;
                    (i, Input::Shutdown)
                }
                Event::Timer(i, key) => {
                    if self.routers[i].deadlines[key as usize] != Some(now) {
                        continue;
                    }
                    self.routers[i].deadlines[key as usize] = None;
                    (i, Input::TimerExpired(key.into()))
                }
                Event::Packet { to, from, bytes } => {
                    if !self.routers[to].running {
                        continue;
                    }
                    let config = self.routers[to].instance.config();
                    let src = self.routers[from].instance.config().primary_address;
                    let input = receive(config, 255, src, IpAddr::V4(MULTICAST_V4), &bytes)
                        .expect("valid adverts on a lossless LAN");
                    (to, input)
                }
            };
            let actions = self.routers[index].instance.handle(now, input);
            for action in actions {
                self.carry_out(now, index, action);
            }
        }
    }

    fn carry_out(&mut self, now: Timestamp, index: usize, action: Action) {
        match action {
            Action::SendAdvert { priority } => {
                let config = self.routers[index].instance.config();
                let bytes = config
                    .advertisement(priority)
                    .encode(
                        config.primary_address,
                        IpAddr::V4(MULTICAST_V4),
                        config.checksum_mode,
                    )
                    .unwrap();
                for to in 0..self.routers.len() {
                    if to != index {
                        let event = Event::Packet {
                            to,
                            from: index,
                            bytes: bytes.clone(),
                        };
                        self.push(now + LAN_DELAY, event);
                    }
                }
            }
            Action::ArmTimer { timer, at } => {
                let key = TimerKey::from(timer);
                self.routers[index].deadlines[key as usize] = Some(at);
                self.push(at, Event::Timer(index, key));
            }
            Action::CancelTimer { timer } => {
                self.routers[index].deadlines[TimerKey::from(timer) as usize] = None;
            }
            Action::StateChanged { to, .. } => self.transitions.push((now, index, to)),
            // Addresses, gratuitous ARP and hooks do not affect the protocol.
            _ => {}
        }
    }
}

fn router_address(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + index as u8))
}

/// Priority, start time (ms) and advert interval (cs) of one router.
type RouterParams = (u8, u64, u16);

/// The routers, their protocol version, and which router stops when (ms).
type LanSetup = (Vec<RouterParams>, Version, Option<(usize, u64)>);

fn router_params() -> impl Strategy<Value = RouterParams> {
    (1..=255u8, 0..5_000u64, 5..=200u16)
}

fn build(params: &[RouterParams], version: Version, stop: Option<(usize, u64)>) -> Vec<Router> {
    params
        .iter()
        .enumerate()
        .map(|(index, &(priority, start_ms, centis))| {
            let mut config = InstanceConfig::new(
                51,
                router_address(index),
                vec!["10.0.0.100".parse().unwrap()],
            );
            config.version = version;
            config.priority = priority;
            config.advert_interval = match version {
                // VRRPv2 routers must share one whole-second interval.
                Version::V2 => Duration::from_secs(u64::from(params[0].2 % 2 + 1)),
                Version::V3 => Duration::from_millis(u64::from(centis) * 10),
            };
            Router {
                instance: Instance::new(config).unwrap(),
                start: Timestamp::from_origin(Duration::from_millis(start_ms)),
                stop: stop
                    .filter(|(who, _)| *who == index)
                    .map(|(_, at)| Timestamp::from_origin(Duration::from_millis(at))),
                running: false,
                deadlines: [None; 3],
            }
        })
        .collect()
}

fn lan_setup() -> impl Strategy<Value = LanSetup> {
    (
        prop::collection::vec(router_params(), 2..=3),
        prop_oneof![Just(Version::V2), Just(Version::V3)],
        prop::option::of((0..3usize, 0..20_000u64)),
    )
        .prop_filter("at most one address owner", |(params, _, _)| {
            params.iter().filter(|p| p.0 == 255).count() <= 1
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After convergence exactly one running router is master, it has the
    /// highest priority, and nothing has changed state for a while.
    #[test]
    fn lan_settles_on_one_best_master((params, version, stop) in lan_setup()) {
        let stop = stop.filter(|(who, _)| *who < params.len());
        let mut lan = Lan::new(build(&params, version, stop));
        let end = Timestamp::from_origin(Duration::from_secs(80));
        lan.run_until(end);

        let running: Vec<usize> = (0..params.len())
            .filter(|&i| lan.routers[i].instance.state() != State::Initialize)
            .collect();
        let masters: Vec<usize> = running
            .iter()
            .copied()
            .filter(|&i| lan.routers[i].instance.state() == State::Master)
            .collect();
        prop_assert_eq!(masters.len(), 1, "masters {:?}", masters);
        let best = running.iter().map(|&i| params[i].0).max().unwrap();
        prop_assert_eq!(params[masters[0]].0, best);
        let last_transition = lan.transitions.last().map_or(Timestamp::ORIGIN, |t| t.0);
        let quiet = end - last_transition;
        prop_assert!(quiet >= Duration::from_secs(20), "still flapping {:?} before the end", quiet);
    }
}

proptest! {
    /// Equal priorities only break ties by address when the claims collide:
    /// routers started together with the same interval all time out at
    /// once, and the highest address must win. (An established master is
    /// not preempted by an equal priority, whatever its address: RFC 5798.)
    #[test]
    fn simultaneous_equal_claims_go_to_the_highest_address(
        priority in 1..=254u8,
        centis in 5..=200u16,
        routers in 2..=3usize,
        version in prop_oneof![Just(Version::V2), Just(Version::V3)],
    ) {
        let params = vec![(priority, 0, centis); routers];
        let mut lan = Lan::new(build(&params, version, None));
        lan.run_until(Timestamp::from_origin(Duration::from_secs(30)));
        let masters: Vec<usize> = (0..routers)
            .filter(|&i| lan.routers[i].instance.state() == State::Master)
            .collect();
        // router_address grows with the index.
        prop_assert_eq!(masters, vec![routers - 1]);
    }
}

/// The benchmark situation of docs/PERFORMANCE.md, in the pure core: with
/// 50 ms adverts, when the master (110) shuts down the backup (100) takes
/// over one LAN delay plus Skew_Time (3 cs) later, not Master_Down later.
#[test]
fn backup_takes_over_skew_time_after_master_shutdown() {
    let params = [(110, 0, 5), (100, 0, 5)];
    let mut lan = Lan::new(build(&params, Version::V3, Some((0, 10_000))));
    lan.run_until(Timestamp::from_origin(Duration::from_secs(12)));
    let at = |ms: u64| Timestamp::from_origin(Duration::from_millis(ms));
    assert_eq!(
        lan.transitions,
        vec![
            (at(0), 0, State::Backup),
            (at(0), 1, State::Backup),
            // Master_Down at 110: 3 * 50ms + 146 * 5 / 256 cs = 170ms.
            (at(170), 0, State::Master),
            (at(10_000), 0, State::Initialize),
            (at(10_030) + LAN_DELAY, 1, State::Master),
        ]
    );
}
