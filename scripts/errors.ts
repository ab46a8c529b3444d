/** The error codes of the commands (tasks and scripts). */
declare module "../src/protocol/errors" {
  interface BilayerErrorCodes {
    /** A command's arguments or environment are not usable (the message says how to fix them). */
    CLI: true;
    /** No key for the operator on a network without development accounts. */
    NO_OPERATOR_KEY: true;
    /** A command-line option without a valid value. */
    INVALID_ARGUMENT: true;
    /** An amount given on the command line that is not a positive number of the token's units. */
    INVALID_AMOUNT: true;
    /** The deployer is not connected to a provider. */
    NO_PROVIDER: true;
    /** A deployment transaction was not mined. */
    DEPLOYMENT_FAILED: true;
    /** The deployments file names contracts that are not (or no longer) what is on chain. */
    DEPLOYMENT_MISMATCH: true;
  }
}

export {};
