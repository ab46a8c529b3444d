// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// The structs are calldata and event layouts fixed by docs/CHANNELS.md, not storage; events index what followers
// filter on (channel, participant, hashlock), not amounts.
// solhint-disable gas-struct-packing, gas-indexed-events

/// @title IChannelAdjudicator
/// @notice The judge of two-party payment channels holding ETH or one ERC-20 each (docs/CHANNELS.md). Participants
/// exchange co-signed states off chain; the adjudicator only sees a channel when it is opened, funded, topped up,
/// partly withdrawn from, closed cooperatively or disputed.
///
/// Life cycle: `None → Open → (Disputed →) Concluded → Closed`, or `Open/Disputed → Closed` by a cooperative close.
/// A closed channel is a tombstone: its id can never be opened again, so old signatures can never be replayed.
interface IChannelAdjudicator {
    /// @notice Where a channel is in its life cycle.
    enum Status {
        None, // never opened
        Open, // accepting deposits, top-ups, partial withdrawals, a cooperative close or a challenge
        Disputed, // a state is registered; newer states may replace it until the deadline
        Concluded, // the outcome is fixed; participants withdraw it and anyone resolves its locks
        Closed // everything paid out; the id is burnt
    }

    /// @notice The fixed parameters of a channel; `channelId` is their hash (with the chain id and adjudicator).
    /// @param participants The two participants; index 0 and 1 everywhere else. Distinct and non-zero.
    /// @param asset `address(0)` for ETH, otherwise the ERC-20 token held by the channel.
    /// @param challengeDuration Seconds a registered state can be refuted before the outcome is fixed.
    /// @param salt Any value that makes the id unique among channels with the same participants.
    struct ChannelParams {
        address[2] participants;
        address asset;
        uint64 challengeDuration;
        bytes32 salt;
    }

    /// @notice A channel state, signed by both participants with EIP-712.
    /// @param channelId The channel it belongs to.
    /// @param version Higher replaces lower. Version 0 is reserved for the deposit state (`registerDeposits`).
    /// @param balances What each participant gets, excluding locks.
    /// @param locksRoot Merkle root of the pending locks (docs/CHANNELS.md §5), `bytes32(0)` when there are none.
    /// @param lockedTotal The sum of the amounts of the pending locks.
    /// @param isFinal Whether this is the last state: only a final state closes cooperatively.
    struct ChannelState {
        bytes32 channelId;
        uint64 version;
        uint256[2] balances;
        bytes32 locksRoot;
        uint256 lockedTotal;
        bool isFinal;
    }

    /// @notice A withdrawal from an open channel, signed by both participants with EIP-712.
    /// @param channelId The channel it belongs to.
    /// @param version The version of the state that already accounts for the withdrawal; it becomes the channel's
    /// version floor, so no older state can be registered afterwards.
    /// @param participant Who receives the amount (0 or 1).
    /// @param amount How much leaves the channel.
    /// @param expiry The last timestamp at which the withdrawal may be executed.
    struct Withdrawal {
        bytes32 channelId;
        uint64 version;
        uint8 participant;
        uint256 amount;
        uint64 expiry;
    }

    /// @notice A top-up of an open channel, signed by both participants with EIP-712: `state` already includes the
    /// amount (its total is the holdings plus what arrives) and becomes the version floor.
    /// @param state The co-signed state after the top-up.
    /// @param expiry The last timestamp at which the top-up may be executed; after it the participants continue from
    /// the state before it, and the top-up can never void their later states.
    struct TopUp {
        ChannelState state;
        uint64 expiry;
    }

    /// @notice One participant's consent to have its deposit pulled into a token channel by the opener's
    /// `openFunded`, signed by that participant alone with EIP-712. It is good for one channel id, which opens once.
    /// @param channelId The channel it funds.
    /// @param participant The index of the participant whose tokens are pulled (the signer).
    /// @param amount How much is pulled.
    /// @param expiry The last timestamp at which it may be used.
    struct Funding {
        bytes32 channelId;
        uint8 participant;
        uint256 amount;
        uint64 expiry;
    }

    /// @notice A hash-locked conditional payment inside a state (docs/CHANNELS.md §5).
    /// @param sender Index of the participant the amount comes from.
    /// @param receiver Index of the participant it goes to if the secret is revealed in time (`1 - sender`).
    /// @param amount The amount locked.
    /// @param hashlock `keccak256(secret)` of a 32-byte secret.
    /// @param expiry The last timestamp at which revealing the secret on chain still pays the receiver.
    struct Lock {
        uint8 sender;
        uint8 receiver;
        uint256 amount;
        bytes32 hashlock;
        uint64 expiry;
    }

    /// @notice An EIP-2098 compact ECDSA signature `r ‖ vs` (the top bit of `vs` is the recovery parity).
    struct Signature {
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A readable view of a channel's storage.
    /// @param status The life-cycle status.
    /// @param holdings What the channel holds: in `Concluded`, the credits not yet withdrawn plus the locks not yet
    /// resolved.
    /// @param checkpointed Whether a top-up or partial withdrawal has happened (unilateral funding is then over and
    /// `version` is the version floor).
    /// @param funded Whether each participant has made its unilateral deposit.
    /// @param deposits The unilateral deposits of each participant; only while `Open` and not `checkpointed`.
    /// @param version `Open`: the version floor; `Disputed`/`Concluded`: the registered version.
    /// @param deadline `Disputed`: the end of the challenge period.
    /// @param balances `Disputed`: the registered balances; `Concluded`: the credits not yet withdrawn.
    /// @param locksRoot `Disputed`/`Concluded`: the registered locks root.
    struct ChannelInfo {
        Status status;
        uint256 holdings;
        bool checkpointed;
        bool[2] funded;
        uint256[2] deposits;
        uint64 version;
        uint48 deadline;
        uint256[2] balances;
        bytes32 locksRoot;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------------------------

    /// @notice A channel was opened, with the opener's first deposit.
    /// @param channelId The new channel.
    /// @param params Its fixed parameters (everything needed to call the adjudicator about it).
    /// @param depositor The opener's participant index.
    /// @param amount The amount received from the opener (0 for none).
    event ChannelOpened(bytes32 indexed channelId, ChannelParams params, uint8 depositor, uint256 amount);

    /// @notice A participant made its unilateral deposit.
    /// @param channelId The channel.
    /// @param participant Who deposited.
    /// @param amount The amount received.
    /// @param holdings The channel's holdings afterwards.
    event Deposited(bytes32 indexed channelId, uint8 indexed participant, uint256 amount, uint256 holdings);

    /// @notice A co-signed top-up: `state` already includes the amount and is now the version floor.
    /// @param channelId The channel.
    /// @param state The co-signed state after the top-up.
    /// @param amount The amount received.
    /// @param holdings The channel's holdings afterwards.
    event ToppedUp(bytes32 indexed channelId, ChannelState state, uint256 amount, uint256 holdings);

    /// @notice A co-signed partial withdrawal from an open channel.
    /// @param channelId The channel.
    /// @param withdrawal The co-signed withdrawal; its version is now the version floor.
    /// @param holdings The channel's holdings afterwards.
    event PartiallyWithdrawn(bytes32 indexed channelId, Withdrawal withdrawal, uint256 holdings);

    /// @notice A dispute started with `state` (the deposit state when `state.version` is 0).
    /// @param channelId The channel.
    /// @param state The registered state.
    /// @param deadline The end of the challenge period.
    event ChallengeRegistered(bytes32 indexed channelId, ChannelState state, uint256 deadline);

    /// @notice A newer state replaced the registered one; the deadline is unchanged.
    /// @param channelId The channel.
    /// @param state The newly registered state.
    /// @param deadline The (unchanged) end of the challenge period.
    event ChallengeRefuted(bytes32 indexed channelId, ChannelState state, uint256 deadline);

    /// @notice The challenge period passed: the registered state is the outcome.
    /// @param channelId The channel.
    /// @param version The version of the outcome.
    /// @param balances The balances credited to each participant.
    /// @param lockedTotal The amount left to its locks.
    event ChannelConcluded(bytes32 indexed channelId, uint64 version, uint256[2] balances, uint256 lockedTotal);

    /// @notice A cooperative close with the final `state`; both balances were paid unless `PayoutCredited` says
    /// otherwise.
    /// @param channelId The channel.
    /// @param state The co-signed final state.
    event ChannelClosed(bytes32 indexed channelId, ChannelState state);

    /// @notice A cooperative close could not pay a participant; the amount is credited and can be withdrawn.
    /// @param channelId The channel.
    /// @param participant Who could not be paid.
    /// @param amount The amount credited.
    event PayoutCredited(bytes32 indexed channelId, uint8 indexed participant, uint256 amount);

    /// @notice A participant's credit was paid out.
    /// @param channelId The channel.
    /// @param participant Who was paid.
    /// @param amount The amount paid.
    event Withdrawn(bytes32 indexed channelId, uint8 indexed participant, uint256 amount);

    /// @notice A lock of a concluded channel was resolved and its amount credited.
    /// @param channelId The channel.
    /// @param index The lock's leaf index in the locks tree.
    /// @param lock The lock.
    /// @param paidTo The participant credited: the receiver if the secret was revealed in time, else the sender.
    event LockSettled(bytes32 indexed channelId, uint256 indexed index, Lock lock, uint8 paidTo);

    /// @notice A secret was revealed on chain for the first time.
    /// @param hashlock `keccak256(secret)`.
    /// @param secret The secret.
    /// @param revealedAt The block timestamp of the reveal.
    event SecretRevealed(bytes32 indexed hashlock, bytes32 secret, uint256 revealedAt);

    // ------------------------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------------------------

    /// @notice The action is not allowed in the channel's current status.
    /// @param channelId The channel.
    /// @param status Its status.
    error ChannelAdjudicatorWrongStatus(bytes32 channelId, Status status);

    /// @notice The parameters are invalid: participants zero or equal, or the challenge duration out of range.
    /// @param participant0 The first participant.
    /// @param participant1 The second participant.
    /// @param challengeDuration The challenge duration.
    error ChannelAdjudicatorInvalidParams(address participant0, address participant1, uint64 challengeDuration);

    /// @notice The caller is not a participant of the channel.
    /// @param caller The caller.
    error ChannelAdjudicatorNotParticipant(address caller);

    /// @notice The ETH sent does not match: `amount` for an ETH channel, 0 for a token channel.
    /// @param expected The value expected.
    /// @param value The value sent.
    error ChannelAdjudicatorValueMismatch(uint256 expected, uint256 value);

    /// @notice The channel would hold more than 2^112 - 1.
    /// @param holdings The holdings it would reach.
    error ChannelAdjudicatorHoldingsOverflow(uint256 holdings);

    /// @notice Unilateral funding is over for this participant (already deposited, or the channel is checkpointed).
    /// @param channelId The channel.
    /// @param participant The participant.
    error ChannelAdjudicatorFundingClosed(bytes32 channelId, uint8 participant);

    /// @notice A unilateral deposit of zero.
    error ChannelAdjudicatorZeroDeposit();

    /// @notice The state or withdrawal names another channel.
    /// @param expected This channel's id.
    /// @param actual The id in the message.
    error ChannelAdjudicatorWrongChannel(bytes32 expected, bytes32 actual);

    /// @notice The version is too old for this action.
    /// @param version The version given.
    /// @param minimum The smallest version accepted.
    error ChannelAdjudicatorStaleVersion(uint64 version, uint256 minimum);

    /// @notice A signature is invalid or not by the participant it stands for.
    /// @param channelId The channel.
    /// @param participant The participant index of the signature.
    /// @param recovered The address recovered (zero if none).
    error ChannelAdjudicatorInvalidSignature(bytes32 channelId, uint8 participant, address recovered);

    /// @notice The state's balances plus locked total differ from the channel's holdings.
    /// @param total What the state allocates.
    /// @param holdings What the channel holds.
    error ChannelAdjudicatorHoldingsMismatch(uint256 total, uint256 holdings);

    /// @notice A cooperative close needs a state with `isFinal` set.
    /// @param channelId The channel.
    /// @param version The state's version.
    error ChannelAdjudicatorNotFinal(bytes32 channelId, uint64 version);

    /// @notice A final state must not have pending locks.
    /// @param lockedTotal The state's locked total.
    /// @param locksRoot The state's locks root.
    error ChannelAdjudicatorFinalStateHasLocks(uint256 lockedTotal, bytes32 locksRoot);

    /// @notice The withdrawal can no longer be executed.
    /// @param expiry Its expiry.
    /// @param timestamp The current block timestamp.
    error ChannelAdjudicatorWithdrawalExpired(uint64 expiry, uint256 timestamp);

    /// @notice A participant index other than 0 or 1.
    /// @param participant The index.
    error ChannelAdjudicatorInvalidParticipant(uint256 participant);

    /// @notice The withdrawal exceeds the channel's holdings.
    /// @param amount The amount asked.
    /// @param holdings The holdings.
    error ChannelAdjudicatorInsufficientHoldings(uint256 amount, uint256 holdings);

    /// @notice The challenge period is over: the registered state can no longer be refuted.
    /// @param deadline The end of the period.
    /// @param timestamp The current block timestamp.
    error ChannelAdjudicatorChallengePeriodOver(uint256 deadline, uint256 timestamp);

    /// @notice The challenge period is still running.
    /// @param deadline The end of the period.
    /// @param timestamp The current block timestamp.
    error ChannelAdjudicatorChallengePeriodRunning(uint256 deadline, uint256 timestamp);

    /// @notice The participant has no credit in the channel.
    /// @param channelId The channel.
    /// @param participant The participant.
    error ChannelAdjudicatorNothingToWithdraw(bytes32 channelId, uint8 participant);

    /// @notice A payout of a withdrawal failed (the recipient rejected it).
    /// @param recipient The recipient.
    /// @param amount The amount.
    error ChannelAdjudicatorTransferFailed(address recipient, uint256 amount);

    /// @notice The lock's sender and receiver are not `(0, 1)` or `(1, 0)`.
    /// @param sender The lock's sender.
    /// @param receiver The lock's receiver.
    error ChannelAdjudicatorInvalidLock(uint8 sender, uint8 receiver);

    /// @notice The lock is not in the registered locks tree at that index.
    /// @param channelId The channel.
    /// @param index The index given.
    error ChannelAdjudicatorInvalidLockProof(bytes32 channelId, uint256 index);

    /// @notice The lock at that index was already resolved.
    /// @param channelId The channel.
    /// @param index The index.
    error ChannelAdjudicatorLockAlreadySettled(bytes32 channelId, uint256 index);

    /// @notice The lock cannot be resolved yet: its secret is not revealed on chain and it has not expired.
    /// @param hashlock The lock's hashlock.
    /// @param expiry The lock's expiry.
    error ChannelAdjudicatorLockPending(bytes32 hashlock, uint64 expiry);

    /// @notice The lock's amount exceeds what is left locked in the channel.
    /// @param amount The lock's amount.
    /// @param remaining What is left locked.
    error ChannelAdjudicatorLockExceedsLocked(uint256 amount, uint256 remaining);

    /// @notice The locks given with a state are not the ones it commits to: their tree root or the sum of their amounts
    /// differs from the state's `locksRoot` or `lockedTotal` (a remainder would be stuck forever).
    /// @param locksRoot The state's locks root.
    /// @param computedRoot The root of the locks given.
    /// @param lockedTotal The state's locked total.
    /// @param computedTotal The sum of the amounts of the locks given (`type(uint256).max` past 2^112 - 1).
    error ChannelAdjudicatorLocksMismatch(
        bytes32 locksRoot,
        bytes32 computedRoot,
        uint256 lockedTotal,
        uint256 computedTotal
    );

    /// @notice The top-up can no longer be executed.
    /// @param expiry Its expiry.
    /// @param timestamp The current block timestamp.
    error ChannelAdjudicatorTopUpExpired(uint64 expiry, uint256 timestamp);

    /// @notice The funding consent can no longer be used.
    /// @param expiry Its expiry.
    /// @param timestamp The current block timestamp.
    error ChannelAdjudicatorFundingExpired(uint64 expiry, uint256 timestamp);

    /// @notice Pulling a participant's deposit needs an ERC-20 channel (ETH cannot be pulled).
    error ChannelAdjudicatorNotToken();

    /// @notice The secret was already revealed.
    /// @param hashlock Its hashlock.
    /// @param revealedAt When it was first revealed.
    error ChannelAdjudicatorSecretAlreadyRevealed(bytes32 hashlock, uint256 revealedAt);

    // ------------------------------------------------------------------------------------------------------------
    // Funding
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Opens a channel and makes the caller's unilateral deposit in the same transaction.
    /// @dev The caller must be a participant. For ETH, `msg.value` must equal `amount`; for a token, the adjudicator
    /// pulls `amount` (approved beforehand) and credits what it actually received. A zero amount opens without
    /// funding (the caller may then still `fund`).
    /// @param params The channel's parameters.
    /// @param amount The caller's deposit.
    /// @return channelId The channel's id.
    function open(ChannelParams calldata params, uint256 amount) external payable returns (bytes32 channelId);

    /// @notice Opens a token channel funded by both participants in one transaction: the caller's deposit and the
    /// other participant's, pulled with its signed consent.
    /// @dev Both deposits count as the participants' unilateral deposits (credited by what arrived, for
    /// fee-on-transfer tokens). The consent names this channel's id, the other participant's index, a non-zero amount
    /// and an expiry; an id opens once, so a consent is used at most once.
    /// @param params The channel's parameters (`asset` is an ERC-20).
    /// @param amount The caller's deposit (may be 0).
    /// @param funding The other participant's consent.
    /// @param sig The other participant's signature over `funding`.
    /// @return channelId The channel's id.
    function openFunded(
        ChannelParams calldata params,
        uint256 amount,
        Funding calldata funding,
        Signature calldata sig
    ) external returns (bytes32 channelId);

    /// @notice The caller's unilateral deposit into an open channel: once per participant, and only before any
    /// top-up or partial withdrawal (after that, funds enter only with a co-signed `topUp`).
    /// @param params The channel's parameters.
    /// @param amount The deposit (non-zero); for ETH it must equal `msg.value`.
    function fund(ChannelParams calldata params, uint256 amount) external payable;

    /// @notice Adds funds to an open channel against a co-signed top-up whose state already includes them.
    /// @dev Until `top.expiry`; `top.state.version` must exceed the version floor, and the state's total must equal
    /// the holdings plus what is received. The state becomes the version floor. Anyone may pay. A zero amount is a
    /// pure checkpoint.
    /// @param params The channel's parameters.
    /// @param top The co-signed top-up.
    /// @param sigs The signatures of participants 0 and 1 over `top` (the `TopUp` type, not the bare state).
    /// @param amount The top-up; for ETH it must equal `msg.value`.
    function topUp(
        ChannelParams calldata params,
        TopUp calldata top,
        Signature[2] calldata sigs,
        uint256 amount
    ) external payable;

    /// @notice Pays a co-signed withdrawal out of an open channel; `withdrawal.version` becomes the version floor.
    /// @dev Anyone may submit it; the amount goes to `withdrawal.participant`. Not possible once disputed.
    /// @param params The channel's parameters.
    /// @param withdrawal The co-signed withdrawal.
    /// @param sigs The signatures of participants 0 and 1 over `withdrawal`.
    function partialWithdraw(
        ChannelParams calldata params,
        Withdrawal calldata withdrawal,
        Signature[2] calldata sigs
    ) external;

    // ------------------------------------------------------------------------------------------------------------
    // Closing
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Closes a channel cooperatively with a co-signed final state and pays both balances at once.
    /// @dev Works while `Open` or `Disputed`. A payout that fails (a reverting receiver, a blocked token transfer) is
    /// credited instead and can be withdrawn later; the other participant is paid regardless.
    /// @param params The channel's parameters.
    /// @param state The co-signed final state (no locks).
    /// @param sigs The signatures of participants 0 and 1 over `state`.
    function close(ChannelParams calldata params, ChannelState calldata state, Signature[2] calldata sigs) external;

    /// @notice Starts a dispute with a co-signed state; anyone may submit it.
    /// @param params The channel's parameters.
    /// @param state A co-signed state at or above the version floor (and at least version 1).
    /// @param sigs The signatures of participants 0 and 1 over `state`.
    /// @param locks The state's locks in tree order: their root and total must be the state's `locksRoot` and
    /// `lockedTotal` (empty for a state without locks).
    function register(
        ChannelParams calldata params,
        ChannelState calldata state,
        Signature[2] calldata sigs,
        Lock[] calldata locks
    ) external;

    /// @notice Starts a dispute with the deposit state (version 0: each participant gets its deposit back), for when
    /// no state was ever co-signed. Only a participant may call it, and only before any top-up or partial withdrawal.
    /// @param params The channel's parameters.
    function registerDeposits(ChannelParams calldata params) external;

    /// @notice Replaces the registered state with a strictly newer co-signed one, before the deadline; the deadline
    /// does not move. Anyone may submit it (a watchtower, typically).
    /// @param params The channel's parameters.
    /// @param state The newer co-signed state.
    /// @param sigs The signatures of participants 0 and 1 over `state`.
    /// @param locks The state's locks in tree order, as for `register`.
    function refute(
        ChannelParams calldata params,
        ChannelState calldata state,
        Signature[2] calldata sigs,
        Lock[] calldata locks
    ) external;

    /// @notice Fixes the registered state as the outcome once the deadline is reached; anyone may call it.
    /// @param params The channel's parameters.
    function conclude(ChannelParams calldata params) external;

    /// @notice Pays a participant its credit in a concluded channel; anyone may call it, the money goes to the
    /// participant.
    /// @param params The channel's parameters.
    /// @param participant The participant's index.
    function withdraw(ChannelParams calldata params, uint8 participant) external;

    // ------------------------------------------------------------------------------------------------------------
    // Locks
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Records that `secret` is public as of now. Anyone may call it, once per secret.
    /// @param secret The 32-byte secret; its hashlock is `keccak256(secret)`.
    function revealSecret(bytes32 secret) external;

    /// @notice Resolves one lock of a concluded channel: credits the receiver if the secret was revealed on chain at
    /// or before the lock's expiry, otherwise (once the lock has expired) the sender. Anyone may call it; each lock
    /// resolves once.
    /// @param params The channel's parameters.
    /// @param lock The lock.
    /// @param index Its leaf index in the locks tree.
    /// @param proof Its Merkle path, bottom-up (docs/CHANNELS.md §5).
    function unlock(
        ChannelParams calldata params,
        Lock calldata lock,
        uint256 index,
        bytes32[] calldata proof
    ) external;

    // ------------------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------------------

    /// @notice `keccak256(abi.encode(chainid, adjudicator, participants, asset, challengeDuration, salt))`.
    /// @param params The channel's parameters.
    /// @return The channel's id on this chain and adjudicator.
    function channelIdOf(ChannelParams calldata params) external view returns (bytes32);

    /// @notice The decoded storage of a channel.
    /// @param channelId The channel.
    /// @return info Its status, holdings, version, deadline and balances.
    function getChannel(bytes32 channelId) external view returns (ChannelInfo memory info);

    /// @notice The EIP-712 digest both participants sign for `state`.
    /// @param state The state.
    /// @return The digest.
    function stateDigest(ChannelState calldata state) external view returns (bytes32);

    /// @notice The EIP-712 digest both participants sign for `top`.
    /// @param top The top-up.
    /// @return The digest.
    function topUpDigest(TopUp calldata top) external view returns (bytes32);

    /// @notice The EIP-712 digest the funding participant signs for `funding`.
    /// @param funding The consent.
    /// @return The digest.
    function fundingDigest(Funding calldata funding) external view returns (bytes32);

    /// @notice The EIP-712 digest both participants sign for `withdrawal`.
    /// @param withdrawal The withdrawal.
    /// @return The digest.
    function withdrawalDigest(Withdrawal calldata withdrawal) external view returns (bytes32);

    /// @notice When a secret was first revealed, 0 if never.
    /// @param hashlock `keccak256(secret)`.
    /// @return The block timestamp of the reveal.
    function secretRevealedAt(bytes32 hashlock) external view returns (uint256);

    /// @notice Whether the lock at `index` of a concluded channel has been resolved.
    /// @param channelId The channel.
    /// @param index The leaf index.
    /// @return Whether it was resolved.
    function isLockSettled(bytes32 channelId, uint256 index) external view returns (bool);
}
