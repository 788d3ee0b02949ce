"""The scenario: the world and the learning job, validated, loaded from YAML presets under ``configs/scenarios``.

A scenario is a tree of frozen dataclasses (:mod:`mel_gym.schema`): every field declares its unit, allowed
range and meaning; :func:`load_scenario` rejects unknown keys and out-of-range values with a
:class:`ConfigError` that names the dotted key and the allowed range.

The scenario holds only what every env shares: where learners are, their links, CPUs and batteries (the
world) and what is learned, on which data, in cycles of which deadline (the job). How an env acts on it and
rewards it (episode length, action map, reward weights, aggregation rule) are that env's own parameters
(:mod:`mel_gym.envs.params`). Formulas, units and sources: ``docs/model.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mel_gym.schema import ConfigError, as_dict, build, deep_merge, param, read_yaml
from mel_gym.schema import describe_fields as _describe_fields
from mel_gym.paths import scenario_preset_names, scenario_preset_path


# --------------------------------------------------------------------------------------------------------------
# The scenario tree
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacementConfig:
    """Where learners stand at reset: uniform in area on an annulus around the orchestrator's start point."""

    min_distance_m: float = param(20.0, unit="m", low=1.0, high=1e5, doc="inner radius of the annulus")
    max_distance_m: float = param(300.0, unit="m", low=1.0, high=1e5, doc="outer radius (the cell radius)")
    clusters: int = param(0, low=0, high=1000,
                          doc="0: uniform on the annulus; n > 0: n clusters of learners (learner k in cluster k mod n) "
                              "centred max_distance_m - cluster_radius_m from the origin, equally spaced in angle "
                              "(random rotation), learners uniform in each cluster's disc (min_distance_m is not used)")
    cluster_radius_m: float = param(30.0, unit="m", low=0.0, high=1e5, doc="radius of a cluster of learners")


@dataclass(frozen=True)
class OrchestratorConfig:
    """The orchestrator (edge server, access point): where it is and how loud it sends (docs/model.md §3)."""

    tx_power_dbm: float = param(30.0, unit="dBm", low=-30.0, high=60.0,
                                doc="downlink transmit power on each learner's link (model and PL data)")
    height_m: float = param(0.0, unit="m", low=0.0, high=10000.0,
                            doc="antenna height above the learners' plane (a drone's flight altitude)")
    range_m: float | None = param(None, unit="m", low=0.0, low_open=True, high=1e5,
                                  doc="coverage radius on the ground around the point below the orchestrator: "
                                      "learners farther away cannot take part; null = placement.max_distance_m")


@dataclass(frozen=True)
class ChannelConfig:
    """Wireless links between the orchestrator and each learner (docs/model.md §3)."""

    bandwidth_hz: float = param(0.8e6, unit="Hz", low=1e3, high=1e11, doc="bandwidth W per learner (both directions)")
    tx_power_dbm: float = param(23.0, unit="dBm", low=-30.0, high=60.0, doc="learner's (uplink) transmit power P")
    power_range_db: float = param(30.0, unit="dB", low=0.0, high=100.0,
                                  doc="learner power control: P can be set in [P - range, P] (JointAllocation)")
    noise_psd_dbm_per_hz: float = param(-174.0, unit="dBm/Hz", low=-220.0, high=-100.0, doc="noise PSD N0")
    carrier_hz: float = param(2.0e9, unit="Hz", low=1e6, high=1e12,
                              doc="carrier frequency f_c: free-space loss at f_c is the floor of every path loss")
    path_loss_model: str = param("3gpp", choices=("3gpp", "power-law", "air-to-ground"),
                                 doc="large-scale path loss; air-to-ground: Al-Hourani et al.'s mean loss of an "
                                     "aerial orchestrator (docs/drone.md)")
    air_to_ground_environment: str = param("urban", choices=("suburban", "urban", "dense-urban", "high-rise-urban"),
                                           doc="air-to-ground: the environment of the LoS probability and excess "
                                               "losses")
    power_law_gain_db: float = param(-40.0, unit="dB", low=-150.0, high=0.0, doc="g0 at 1 m (power-law model)")
    power_law_exponent: float = param(3.0, low=1.0, high=8.0, doc="path-loss exponent (power-law model)")
    shadowing_std_db: float = param(8.0, unit="dB", low=0.0, high=30.0, doc="log-normal shadowing sigma")
    shadowing_decorrelation_m: float | None = param(
        None, unit="m", low=1.0, high=1e5,
        doc="Gudmundson decorrelation distance: shadowing follows the learner (AR(1) in the distance moved); "
            "null = drawn once per episode")
    fading: str = param("rayleigh", choices=("rayleigh", "gauss-markov", "none"),
                        doc="small-scale fading: rayleigh = i.i.d. block fading per cycle; gauss-markov = "
                            "correlated across cycles (Jakes); none")
    fading_correlation: float | None = param(
        None, low=-1.0, high=1.0,
        doc="gauss-markov: correlation rho of the complex gain from one cycle to the next; null = Jakes "
            "J0(2 pi f_D dt) with f_D = speed f_c / c and dt = cycle_period_s")
    min_doppler_hz: float = param(0.0, unit="Hz", low=0.0, high=1e4,
                                  doc="gauss-markov with Jakes' rho: a Doppler floor, f_D = max(speed f_c / c, this): "
                                      "moving scatterers make the fading of a learner at rest change too "
                                      "(docs/dynamics.md §3); 0 = a learner at rest keeps its fading")
    csi: str = param("perfect", choices=("perfect", "outdated"),
                     doc="perfect: the coming cycle's channel is known at decision time; outdated: the orchestrator "
                         "knows the channel it measured at the end of the last cycle and schedules each link at a "
                         "gain predicted from it (target_outage), and a link fails when the coming cycle's gain "
                         "falls short of the scheduled one (docs/dynamics.md)")
    target_outage: float = param(0.1, low=0.001, high=0.9,
                                 doc="outdated CSI: the fading outage link adaptation aims for, a probability per link "
                                     "and cycle (dimensionless): links are scheduled at the large-scale gain at the "
                                     "learner's current position with the measured shadowing, times the quantile of "
                                     "this probability of the coming fading power given the measured fading")
    rate_margin_db: float = param(0.0, unit="dB", low=0.0, high=40.0,
                                  doc="outdated CSI: an extra margin, the scheduled gain is lowered by this much "
                                      "on top of target_outage")
    packet_error_threshold: float | None = param(
        None, low=0.0, low_open=True, high=1e6,
        doc="waterfall threshold m of the upload's packet error rate q = 1 - exp(-m W N0 / (P gbar)) (Chen et al. "
            "2021), averaged over Rayleigh fading: gbar is the large-scale gain (path loss and shadowing); "
            "null = no packet errors")


@dataclass(frozen=True)
class ComputeConfig:
    """Learner CPUs (docs/model.md §4) and their energy (§2)."""

    cpu_freqs_hz: list = param([0.7e9, 1.0e9, 1.4e9, 2.4e9], unit="Hz", low=1e6, high=1e11, doc="each learner draws one")
    min_cpu_hz: float = param(0.3e9, unit="Hz", low=1e6, high=1e11,
                              doc="lowest CPU frequency a learner can run (JointAllocation's CPU control)")
    cycles_per_sample: float = param(8.0e4, unit="cycles", low=1.0, high=1e12,
                                     doc="C_m: CPU cycles per sample per local iteration")
    kappa: float = param(1e-28, unit="J/(cycle Hz^2)", low=0.0, high=1e-20, doc="effective switched capacitance")
    service: str = param("always", choices=("always", "markov"),
                         doc="always: a learner's CPU is always its own; markov: a chain over available / "
                             "throttled / frozen, stepped once per cycle")
    transition_matrix: list = param([0.9, 0.07, 0.03, 0.3, 0.6, 0.1, 0.1, 0.0, 0.9], low=0.0, high=1.0,
                                    doc="markov: the 3x3 per-cycle transition matrix, row-major, rows and columns "
                                        "available, throttled, frozen; each row sums to 1")
    throttled_share: float = param(0.5, low=0.01, high=1.0, high_open=True,
                                   doc="markov: the share of its CPU a throttled learner gets (frozen: 0)")


@dataclass(frozen=True)
class MobilityConfig:
    """How learners move between cycles (docs/dynamics.md). Beyond the cell (placement.max_distance_m) a learner
    is out of coverage: it cannot take part."""

    model: str = param("static", choices=("static", "random-waypoint", "gauss-markov"), doc="mobility model")
    area_radius_m: float | None = param(None, unit="m", low=1.0, high=1e5,
                                        doc="learners move in a disc of this radius around the origin; "
                                            "null = the cell")
    speed_min_mps: float = param(0.5, unit="m/s", low=0.0, low_open=True, high=100.0, doc="random-waypoint: slowest speed")
    speed_max_mps: float = param(1.5, unit="m/s", low=0.0, low_open=True, high=100.0,
                                 doc="random-waypoint: fastest speed; gauss-markov: speed clip")
    pause_s: float = param(0.0, unit="s", low=0.0, high=86400.0, doc="random-waypoint: pause at each waypoint")
    memory: float = param(0.75, low=0.0, high=1.0, doc="gauss-markov: alpha, the velocity's memory per cycle")
    mean_speed_mps: float = param(1.0, unit="m/s", low=0.0, high=100.0, doc="gauss-markov: speed of the mean velocity")
    speed_std_mps: float = param(0.5, unit="m/s", low=0.0, high=100.0, doc="gauss-markov: sigma of the velocity per axis")
    burn_in_s: float = param(3600.0, unit="s", low=0.0, high=86400.0,
                             doc="random-waypoint: movement before the episode starts (near the stationary regime)")


@dataclass(frozen=True)
class DroneConfig:
    """A drone orchestrator flying at orchestrator.height_m (DroneOrchestrator-v0; docs/drone.md): speed, battery,
    start and the rotary-wing propulsion model of Zeng, Xu, Zhang (2019), whose defaults are the paper's."""

    max_speed_mps: float = param(25.0, unit="m/s", low=0.0, low_open=True, high=100.0, doc="top flight speed")
    battery_j: float | None = param(None, unit="J", low=0.0, low_open=True, high=1e9,
                                    doc="propulsion energy for the episode: the episode ends when it is spent; "
                                        "null = unlimited")
    start: str = param("centre", choices=("centre", "centroid"),
                       doc="where the orchestrator starts: above the origin, or above the learners' centroid")
    blade_profile_power_w: float = param(79.86, unit="W", low=0.0, high=1e5, doc="P0, blade profile power in hover")
    induced_power_w: float = param(88.63, unit="W", low=0.0, high=1e5, doc="Pi, induced power in hover")
    tip_speed_mps: float = param(120.0, unit="m/s", low=10.0, high=1000.0, doc="U_tip, rotor blade tip speed")
    mean_induced_velocity_mps: float = param(4.03, unit="m/s", low=0.1, high=100.0,
                                             doc="v0, mean rotor induced velocity in hover")
    fuselage_drag_ratio: float = param(0.6, low=0.0, high=10.0, doc="d0, fuselage drag ratio")
    air_density_kg_m3: float = param(1.225, unit="kg/m^3", low=0.0, high=10.0, doc="rho, air density")
    rotor_solidity: float = param(0.05, low=0.0, high=1.0, doc="s, rotor solidity")
    rotor_disc_area_m2: float = param(0.503, unit="m^2", low=0.0, high=1000.0, doc="A, rotor disc area")


@dataclass(frozen=True)
class RelocationConfig:
    """Learners the orchestrator can move (robots, vehicles; LearnerRelocation-v0, docs/drone.md): the first
    ``controllable`` learners move between cycles at most max_speed_mps x (period - T) and pay per metre."""

    controllable: int = param(0, low=0, high=10000, doc="how many learners (the first, in index order) can be moved")
    max_speed_mps: float = param(1.0, unit="m/s", low=0.0, low_open=True, high=100.0, doc="top speed of a controllable learner")
    energy_per_m_j: float = param(10.0, unit="J/m", low=0.0, high=1e6, doc="locomotion energy per metre moved (c_move)")


@dataclass(frozen=True)
class D2DConfig:
    """Learner-to-learner (device-to-device) links, for topologies beyond the star (docs/model.md, "D2D links"):
    3GPP TR 38.901 UMi street-canyon NLOS path loss between two devices at UE height (never below free space),
    log-normal shadowing per pair (symmetric, for the episode), Rayleigh fading per pair and cycle. Only pairs
    within ``range_m`` are links; each learner keeps its ``max_neighbours`` nearest."""

    enabled: bool = param(False, doc="compute D2D links (the topology envs switch them on)")
    range_m: float = param(150.0, unit="m", low=0.0, low_open=True, high=1e5,
                           doc="two learners farther apart have no link")
    max_neighbours: int = param(16, low=1, high=1000, doc="links kept per learner (its nearest within range)")
    shadowing_std_db: float = param(7.82, unit="dB", low=0.0, high=30.0,
                                    doc="log-normal shadowing sigma per pair (TR 38.901 UMi NLOS: 7.82)")
    fading: str = param("rayleigh", choices=("rayleigh", "none"),
                        doc="rayleigh: i.i.d. exponential power gain per pair and cycle; none: 1")
    bandwidth_hz: float | None = param(None, unit="Hz", low=1e3, high=1e11,
                                       doc="bandwidth of a D2D link; null = channel.bandwidth_hz")
    receive_j_per_bit: float = param(50.0e-9, unit="J/bit", low=0.0, high=1e-3,
                                     doc="energy of receiving a bit over a D2D link (radio electronics; 50 nJ/bit, "
                                         "Heinzelman et al. 2000); receiving from the orchestrator is free, as in "
                                         "the star")


@dataclass(frozen=True)
class ChainConfig:
    """Split models trained by chains of learners (SplitChain-v0, docs/chains.md): the job's MLP cut into stages of
    consecutive layers, each hosted by one learner of a chain; a learner can host a stage only if its memory holds
    the stage's parameters, their gradients and one microbatch's activations."""

    cuts: list = param([1, 2], low=1, high=1000, item=int,
                       doc="the layers after which the model is cut (increasing; layer 1 = the first weight layer): "
                           "S = len(cuts) + 1 stages")
    max_chains: int = param(3, low=1, high=64, doc="C, chains formed at most in a cycle")
    microbatch: int = param(32, low=1, high=100000,
                            doc="samples per microbatch of the pipeline (memory holds one microbatch's activations)")
    memory_classes_bytes: list = param([0.5e6, 1.0e6, 2.5e6, 4.0e6], unit="B", low=1.0, high=1e15, item=float,
                                       doc="device memory classes; each learner draws one uniformly per episode")


@dataclass(frozen=True)
class MultiHopConfig:
    """Updates delivered over multi-hop routes of learners (MultiHop-v0, docs/multihop.md): a learner out of the
    orchestrator's range (``orchestrator.range_m``) sends its update to a D2D neighbour, which relays it; the model
    comes down the same tree."""

    aggregation: str = param("in_route", choices=("in_route", "forward"),
                             doc="in_route: a relay sends one partial aggregate (sum of n_k w_k and of n_k) of its "
                                 "subtree; forward: every update travels as it is")
    aggregation_s: float = param(1.0e-4, unit="s", low=0.0, high=10.0,
                                 doc="time a relay takes to add its children's messages into its own")


@dataclass(frozen=True)
class RedistributionConfig:
    """Learners exchange samples over D2D links before training, toward less non-IID data (FL; TaskAllocation-v0,
    docs/redistribution.md). The action says how much each learner sends (a fraction of its cap) and how: into a
    shared pool (split equally between its neighbours) or by the orchestrator's min-imbalance transport plan."""

    enabled: bool = param(False, doc="add the redistribution phase and its action blocks")
    schedule: str = param("episode", choices=("episode", "cycle"),
                          doc="episode: one phase before the first cycle; cycle: a phase before every cycle, in the "
                              "gap between cycles (needs cycle_period_s - cycle_deadline_s >= budget_s)")
    budget_s: float = param(0.05, unit="s", low=0.0, low_open=True, high=3600.0,
                            doc="time a learner may spend sending in one phase (its links' times summed)")
    cap_fraction: float = param(0.2, low=0.0, high=1.0,
                                doc="the most of a learner's samples that may leave it in one phase (privacy / "
                                    "consent)")


@dataclass(frozen=True)
class PredictionConfig:
    """What the orchestrator predicts for the coming cycle, shown in every env's observation (docs/dynamics.md)."""

    predictor: str = param("model", choices=("none", "model", "oracle", "clairvoyant"),
                           doc="none: zeros; model: from what the orchestrator knows (measured channel, "
                               "positions and speeds, CPU state); oracle: from the coming cycle's true state; "
                               "clairvoyant: the coming cycle's realised outcome, 0 or 1 (non-causal: a bound, "
                               "never a baseline)")
    samples: int = param(1024, low=1, high=100000, doc="model: Monte Carlo samples of the coming cycle's channel")


@dataclass(frozen=True)
class EnergyConfig:
    """Learner batteries that drain across cycles (a learner with an empty battery leaves), and a cap per cycle."""

    battery_min_j: float | None = param(None, unit="J", low=0.0, low_open=True, high=1e9,
                                        doc="battery capacity drawn U[min, max] per learner; null = no battery")
    battery_max_j: float | None = param(None, unit="J", low=0.0, low_open=True, high=1e9, doc="see battery_min_j")
    cycle_cap_j: float | None = param(None, unit="J", low=0.0, low_open=True, high=1e9,
                                      doc="per-learner energy cap of one cycle (E_max); null = none")


@dataclass(frozen=True)
class LearningConfig:
    """The model, its data and local training (docs/model.md §5)."""

    dataset: str = param("digits", choices=("digits", "mnist5k", "fashion-mnist", "mnist"),
                         doc="data set name, see mel_gym.learning.datasets")
    data_dir: str | None = param(None, doc="directory of IDX files (mnist, fashion-mnist); null = default place")
    hidden_layers: list = param([32], low=1, high=100000, item=int, doc="MLP hidden widths; [] = logistic regression")
    learning_rate: float = param(0.1, low=0.0, high=100.0, low_open=True, doc="SGD step size")
    local_batch_size: int | None = param(None, low=1, high=1000000, doc="null = one full-batch step per local iteration")
    partition: str = param("iid", choices=("iid", "dirichlet", "shards"), doc="FL: how learners' data is split")
    dirichlet_alpha: float = param(0.5, low=0.05, high=1e6, doc="FL Dirichlet label-skew concentration")
    shards_per_learner: int = param(2, low=1, high=100000, doc="FL shard partition: label-sorted shards per learner")
    test_fraction: float = param(0.2, low=0.0, high=1.0, low_open=True, high_open=True,
                                 doc="held-out share for data sets without an official test split")
    validation_fraction: float = param(0.5, low=0.0, high=1.0, high_open=True,
                                       doc="share of the held-out samples kept as the validation split, which the "
                                           "reward, observations, termination and tuned baselines score on; the "
                                           "rest is the test split of the reported test_accuracy / test_loss. "
                                           "0 = no validation split: decisions score on the test split")
    max_test_samples: int = param(2000, low=1, high=10000000,
                                  doc="evaluate on at most this many samples of each held-out split")
    split_seed: int = param(0, low=0, high=10**12, doc="seed of the fixed train/validation/test split and subsets")
    bits_per_parameter: int = param(32, unit="bit", low=1, high=64, doc="model size S_m = parameters x this")
    bits_per_feature: int = param(32, unit="bit", low=1, high=64,
                                  doc="sample size S_d = (features + 1 label) x this (PL)")
    kernel: str = param("auto", choices=("auto", "stacked", "loop"), doc="trainer kernel, see learning.trainer")


@dataclass(frozen=True)
class DriftConfig:
    """Concept drift (continual learning; docs/drift.md): from ``start_cycle`` on, before each cycle the data's concept
    changes with probability ``probability`` (at least ``min_gap_cycles`` apart), drawn from the episode's seed only
    (the same drifts for every policy); the global model then has to relearn."""

    model: str = param("none", choices=("none", "permutation", "labels", "reinit"),
                       doc="none: no drift; permutation: a new random permutation of the input features (Permuted "
                           "MNIST, Goodfellow et al. 2013); labels: a new random permutation of the class labels; "
                           "reinit: the model starts afresh (the documented extreme)")
    probability: float = param(0.08, low=0.0, high=1.0, doc="chance of a drift before each cycle from start_cycle on")
    start_cycle: int = param(2, low=1, high=1000000, doc="the first cycle a drift can come before")
    min_gap_cycles: int = param(3, low=1, high=1000000, doc="cycles at least between two drifts")
    history_cycles: int = param(3, low=0, high=100,
                                doc="the observation adds the validation losses of this many earlier decisions")
    reveal: bool = param(False, doc="non-causal (a bound, never a baseline): the observation adds the cycles since the "
                                    "last drift (or since the episode began)")

    @property
    def enabled(self) -> bool:
        return self.model != "none"


@dataclass(frozen=True)
class ArrivalConfig:
    """Jobs that arrive with deadlines (MultiJob-v0; docs/multijob.md §6): each job arrives at a cycle drawn
    uniformly from 0 .. ``last_cycle`` and must reach its ``target_accuracy`` within a deadline of
    ``deadline_min_cycles`` .. ``deadline_max_cycles`` cycles (uniform); it leaves when it reaches its target or its
    deadline passes. Drawn from the episode's seed only (the same jobs and deadlines for every policy)."""

    model: str = param("none", choices=("none", "uniform"),
                       doc="none: every job is there from cycle 0 with no deadline; uniform: arrival cycles and "
                           "deadlines drawn uniformly per job and episode")
    last_cycle: int = param(14, low=0, high=1000000, doc="the latest cycle a job can arrive in")
    deadline_min_cycles: int = param(4, low=1, high=1000000, doc="the shortest deadline, cycles after arrival")
    deadline_max_cycles: int = param(10, low=1, high=1000000, doc="the longest deadline, cycles after arrival")

    @property
    def enabled(self) -> bool:
        return self.model != "none"


@dataclass(frozen=True)
class JobConfig:
    """One of several simultaneous learning jobs (MultiJob-v0; docs/multijob.md): its model, data, deadline and
    importance. Keys left null take the scenario's (``learning.*``, ``cycle_deadline_s``, ``samples_per_cycle``,
    ``compute.cycles_per_sample``)."""

    name: str | None = param(None, doc="the job's name, for logs and tables; null = job<index>")
    dataset: str | None = param(None, choices=("digits", "mnist5k", "fashion-mnist", "mnist"),
                                doc="data set; null = learning.dataset")
    labels: list = param([], low=0, high=1000, item=int,
                         doc="the classes this job learns (its training and test samples); [] = all")
    hidden_layers: list | None = param(None, low=1, high=100000, item=int,
                                       doc="MLP hidden widths; null = learning.hidden_layers")
    learning_rate: float | None = param(None, low=0.0, high=100.0, low_open=True,
                                        doc="SGD step size; null = learning.learning_rate")
    cycle_deadline_s: float | None = param(None, unit="s", low=1e-4, high=3600.0,
                                           doc="T_j, the job's deadline within each cycle; null = cycle_deadline_s")
    samples_per_cycle: int | None = param(None, low=1, high=1000000, doc="d_j, samples the job trains per cycle; null = "
                                                         "samples_per_cycle")
    cycles_per_sample: float | None = param(None, unit="cycles", low=1.0, high=1e12,
                                            doc="C_m of this job's model; null = compute.cycles_per_sample")
    weight: float = param(1.0, low=0.0, low_open=True, high=1e6, doc="importance w_j: the job's gains count w_j times")
    target_accuracy: float | None = param(None, low=0.0, high=1.0,
                                          doc="validation accuracy at which the job is done (it then frees its "
                                              "learners); null = never done")
    data_fraction: float = param(1.0, low=0.0, high=1.0, low_open=True,
                                 doc="FL: the share of learners holding this job's data (drawn per episode; at "
                                     "least one); only they can serve the job")


@dataclass(frozen=True)
class Scenario:
    """A complete MEL world and learning job. Units: seconds, hertz, joules, metres, bits."""

    name: str = param("custom", doc="preset name, for logs")
    mode: str = param("pl", choices=("pl", "fl"), doc="pl: orchestrator sends data; fl: data stays local")
    num_learners: int = param(10, low=1, high=10000, doc="K")
    cycle_deadline_s: float = param(0.1, unit="s", low=1e-4, high=3600.0, doc="T, length of a global cycle")
    samples_per_cycle: int = param(1000, low=1, high=1000000, doc="d: samples trained per cycle over all learners")
    max_local_iterations: int = param(40, low=1, high=100000, doc="cap on tau, the local iterations per cycle")
    target_accuracy: float | None = param(None, low=0.0, high=1.0,
                                          doc="accuracy the job aims for: termination and is_success on the "
                                              "validation split, the results' cycles to the target on the test split")
    cycle_period_s: float | None = param(None, unit="s", low=1e-4, high=86400.0,
                                         doc="time from one cycle's start to the next, over which learners move "
                                             "and channels and CPUs change; null = T")
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    orchestrator: OrchestratorConfig = field(default_factory=OrchestratorConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    mobility: MobilityConfig = field(default_factory=MobilityConfig)
    prediction: PredictionConfig = field(default_factory=PredictionConfig)
    drone: DroneConfig = field(default_factory=DroneConfig)
    relocation: RelocationConfig = field(default_factory=RelocationConfig)
    d2d: D2DConfig = field(default_factory=D2DConfig)
    chains: ChainConfig = field(default_factory=ChainConfig)
    multihop: MultiHopConfig = field(default_factory=MultiHopConfig)
    redistribution: RedistributionConfig = field(default_factory=RedistributionConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    arrivals: ArrivalConfig = field(default_factory=ArrivalConfig)
    jobs: list = param([], item=JobConfig,
                       doc="simultaneous learning jobs sharing the learners (MultiJob-v0, docs/multijob.md); [] = "
                           "the one job of learning.*")

    def __post_init__(self) -> None:
        _check_cross_field(self)

    def replace(self, **overrides: Any) -> "Scenario":
        """A copy with ``overrides`` deep-merged (nested sections as dicts), validated like a YAML file."""
        return scenario_from_dict(deep_merge(scenario_to_dict(self), overrides))

    @property
    def battery_enabled(self) -> bool:
        return self.energy.battery_min_j is not None

    @property
    def period_s(self) -> float:
        """Time from one cycle's start to the next, s: ``cycle_period_s`` or T."""
        return self.cycle_deadline_s if self.cycle_period_s is None else self.cycle_period_s

    @property
    def area_radius_m(self) -> float:
        """Radius of the disc learners can be in, m: the mobility area or the cell, whichever is larger."""
        area = self.mobility.area_radius_m
        return self.placement.max_distance_m if area is None else max(area, self.placement.max_distance_m)

    @property
    def coverage_radius_m(self) -> float:
        """Ground radius around the point below the orchestrator within which learners can take part, m."""
        return self.placement.max_distance_m if self.orchestrator.range_m is None else self.orchestrator.range_m

    @property
    def total_bandwidth_hz(self) -> float:
        """Bandwidth shared by all learners where it is allocated (JointAllocation): K x channel.bandwidth_hz."""
        return self.num_learners * self.channel.bandwidth_hz


#: The states of the computing-service chain (compute.service: markov), in the transition matrix's order.
COMPUTE_STATES = ("available", "throttled", "frozen")

#: Keys that used to be scenario keys and are now env parameters (see mel_gym.envs.params).
ENV_PARAMETER_KEYS = ("horizon_cycles", "terminate_on_target", "action_beta", "reward", "aggregation")


def _check_cross_field(s: Scenario) -> None:
    if s.placement.max_distance_m < s.placement.min_distance_m:
        raise ConfigError(
            f"scenario key 'placement.max_distance_m' = {s.placement.max_distance_m:g} must be >= "
            f"placement.min_distance_m = {s.placement.min_distance_m:g} (m)"
        )
    if s.placement.clusters and s.placement.cluster_radius_m > s.placement.max_distance_m:
        raise ConfigError(f"scenario key 'placement.cluster_radius_m' = {s.placement.cluster_radius_m:g} must be <= "
                          f"placement.max_distance_m = {s.placement.max_distance_m:g} (m)")
    if s.relocation.controllable > s.num_learners:
        raise ConfigError(f"scenario key 'relocation.controllable' = {s.relocation.controllable} must be <= "
                          f"num_learners = {s.num_learners}")
    e = s.energy
    if (e.battery_min_j is None) != (e.battery_max_j is None):
        raise ConfigError("scenario keys 'energy.battery_min_j' and 'energy.battery_max_j' must both be set or both null")
    if e.battery_min_j is not None and e.battery_max_j < e.battery_min_j:
        raise ConfigError(
            f"scenario key 'energy.battery_max_j' = {e.battery_max_j:g} must be >= energy.battery_min_j = "
            f"{e.battery_min_j:g} (J)"
        )
    if s.cycle_period_s is not None and s.cycle_period_s < s.cycle_deadline_s:
        raise ConfigError(f"scenario key 'cycle_period_s' = {s.cycle_period_s:g} must be >= cycle_deadline_s = "
                          f"{s.cycle_deadline_s:g} (s): a cycle ends before the next starts")
    for i, job in enumerate(s.jobs):
        if job.cycle_deadline_s is not None and job.cycle_deadline_s > s.period_s:
            raise ConfigError(f"scenario key 'jobs[{i}].cycle_deadline_s' = {job.cycle_deadline_s:g} must be <= the "
                              f"cycle period {s.period_s:g} s (cycle_period_s, or cycle_deadline_s when null)")
        if len(set(job.labels)) != len(job.labels):
            raise ConfigError(f"scenario key 'jobs[{i}].labels' = {job.labels} lists a class twice")
    if s.jobs and s.drift.enabled:
        raise ConfigError(f"scenario key 'drift.model' = {s.drift.model!r}: concept drift applies to the one job of "
                          "learning.* (the single-job envs), not to 'jobs'; set drift.model: none")
    a = s.arrivals
    if a.enabled and not s.jobs:
        raise ConfigError(f"scenario key 'arrivals.model' = {a.model!r}: jobs arrive in MultiJob-v0 only; list them "
                          "in 'jobs' or set arrivals.model: none")
    if a.enabled and any(job.target_accuracy is None for job in s.jobs):
        missing = [i for i, job in enumerate(s.jobs) if job.target_accuracy is None]
        raise ConfigError(f"scenario key 'jobs[{missing[0]}].target_accuracy' is null: with arrivals every job needs "
                          "the target it must reach by its deadline")
    if a.deadline_max_cycles < a.deadline_min_cycles:
        raise ConfigError(f"scenario key 'arrivals.deadline_max_cycles' = {a.deadline_max_cycles} must be >= "
                          f"arrivals.deadline_min_cycles = {a.deadline_min_cycles}")
    names = [job.name or f"job{i}" for i, job in enumerate(s.jobs)]
    if len(set(names)) != len(names):
        raise ConfigError(f"scenario key 'jobs': the job names {names} must differ")
    r = s.redistribution
    if r.enabled and (s.mode != "fl" or not s.d2d.enabled):
        raise ConfigError("scenario key 'redistribution.enabled' = true needs mode: fl (learners hold their own data) "
                          "and d2d.enabled: true (samples move over device-to-device links)")
    if r.enabled and s.jobs:
        raise ConfigError("scenario key 'redistribution.enabled' = true: the redistribution phase runs in the one job of "
                          "learning.* (TaskAllocation-v0), not with 'jobs'")
    if r.enabled and r.schedule == "cycle" and s.period_s - s.cycle_deadline_s < r.budget_s:
        raise ConfigError(f"scenario key 'redistribution.budget_s' = {r.budget_s:g} must fit in the gap between cycles "
                          f"(cycle_period_s - cycle_deadline_s = {s.period_s - s.cycle_deadline_s:g} s) with schedule: "
                          "cycle")
    m = s.mobility
    if m.speed_max_mps < m.speed_min_mps:
        raise ConfigError(f"scenario key 'mobility.speed_max_mps' = {m.speed_max_mps:g} must be >= "
                          f"mobility.speed_min_mps = {m.speed_min_mps:g} (m/s)")
    if m.area_radius_m is not None and m.area_radius_m < s.placement.max_distance_m:
        raise ConfigError(f"scenario key 'mobility.area_radius_m' = {m.area_radius_m:g} must be >= the cell radius "
                          f"placement.max_distance_m = {s.placement.max_distance_m:g} (m)")
    matrix = s.compute.transition_matrix
    if len(matrix) != 9:
        raise ConfigError(f"scenario key 'compute.transition_matrix' must hold 9 numbers (3 rows of 3), got "
                          f"{len(matrix)}")
    for row in range(3):
        total = sum(matrix[3 * row: 3 * row + 3])
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"scenario key 'compute.transition_matrix' row {row} ({COMPUTE_STATES[row]}) sums to "
                              f"{total:g}: each row must sum to 1")
    if len(s.compute.cpu_freqs_hz) == 0:
        raise ConfigError("scenario key 'compute.cpu_freqs_hz' must list at least one frequency (Hz)")
    if s.compute.min_cpu_hz > min(s.compute.cpu_freqs_hz):
        raise ConfigError(
            f"scenario key 'compute.min_cpu_hz' = {s.compute.min_cpu_hz:g} must be <= the lowest of "
            f"compute.cpu_freqs_hz = {min(s.compute.cpu_freqs_hz):g} (Hz)"
        )


# --------------------------------------------------------------------------------------------------------------
# dict <-> dataclass with validation
# --------------------------------------------------------------------------------------------------------------


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """Build a validated :class:`Scenario` from a (possibly partial) nested dict; missing keys take defaults."""
    moved = sorted(set(data) & set(ENV_PARAMETER_KEYS)) if isinstance(data, Mapping) else []
    hint = (f" ('{moved[0]}' is an env parameter: pass it to the env, e.g. gym.make(ID, {moved[0]}=...), or in a "
            "run config's env_kwargs)") if moved else ""
    return build(Scenario, data, "scenario key", hint=hint)


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a plain nested dict (YAML-ready)."""
    return as_dict(scenario)


# --------------------------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------------------------


def _resolve_yaml(name_or_path: str | Path, seen: tuple[Path, ...] = (), base: Path | None = None) -> dict[str, Any]:
    """Read a preset (by name) or YAML file, following ``extends: <preset or path>`` chains.

    A relative path is taken relative to ``base``: the folder of the file that says ``extends:`` (None: the working
    directory, for a path given by the caller).
    """
    text = str(name_or_path)
    if text in scenario_preset_names():
        path = scenario_preset_path(text)
    else:
        path = Path(text)
        if base is not None and not path.is_absolute():
            path = base / path
        if not path.suffix and not path.exists():
            where = f" (relative to '{base}')" if base is not None else ""
            raise ConfigError(f"unknown scenario '{text}'{where}: presets are {scenario_preset_names()}, or give a "
                              "YAML path")
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"scenario file '{path}' extends itself (cycle through {[str(p) for p in seen]})")
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    return deep_merge(_resolve_yaml(parent, seen + (path,), base=path.parent), data)


def load_scenario(
    scenario: str | Path | Mapping[str, Any] | Scenario = "default", overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Load a scenario from a preset name, a YAML path, a dict or a :class:`Scenario`, then apply overrides.

    Args:
        scenario: a preset name (``mel_gym.paths.scenario_preset_names()``), a path to a YAML file (which may
            say ``extends: default``), a nested dict of keys, or a ready :class:`Scenario`.
        overrides: nested dict deep-merged on top, validated the same way.
    """
    if isinstance(scenario, Scenario):
        data = scenario_to_dict(scenario)
    elif isinstance(scenario, Mapping):
        data = dict(scenario)
        parent = data.pop("extends", None)
        if parent is not None:
            data = deep_merge(_resolve_yaml(parent), data)
    else:
        data = _resolve_yaml(scenario)
    if overrides:
        data = deep_merge(data, overrides)
    return scenario_from_dict(data)


def describe_fields(cls: type = Scenario, prefix: str = "") -> list[tuple[str, Any, str, str]]:
    """(dotted key, default, allowed range or choices, doc) for every field: the scenario reference table."""
    return _describe_fields(cls, prefix)


__all__ = ["ArrivalConfig", "ConfigError", "DriftConfig", "JobConfig", "Scenario", "deep_merge", "describe_fields",
           "load_scenario", "read_yaml", "scenario_from_dict", "scenario_to_dict"]
