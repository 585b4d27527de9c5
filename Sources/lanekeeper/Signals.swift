import Foundation
import Synchronization

/// The first SIGINT or SIGTERM `watch` received (0: none), set by the signal handler.
private let caughtSignal = Atomic<Int32>(0)

/// SIGINT and SIGTERM end a watch with its report: the handler only records the signal
/// (an atomic store, async-signal-safe) and the watch's loop, which looks every
/// `WatchCommand.tick` seconds, stops. Installed first thing, so that a signal that comes
/// while the policy is read or the captures are opened still ends the watch with a report;
/// further signals (during the final report) change nothing. A parent that starts
/// lanekeeper with these signals blocked has them delivered here once installed.
enum SignalCatcher {
    static let signals = [SIGINT, SIGTERM]

    static func install() {
        _ = caughtSignal.load(ordering: .relaxed)  // the global is initialised outside the handler
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { number in
            _ = caughtSignal.compareExchange(expected: 0, desired: number, ordering: .relaxed)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for number in signals {
            sigaction(number, &action, nil)
            sigaddset(&unblock, number)
        }
        // A parent may have started us with these blocked: whatever is pending arrives now.
        for number in [SIGHUP, SIGQUIT] { sigaddset(&unblock, number) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// The first signal received, if any.
    static var caught: Int32? {
        let number = caughtSignal.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }
}
