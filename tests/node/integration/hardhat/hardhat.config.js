// Hardhat Network (EDR) for the node's second-implementation tests: chain id and accounts as anvil's, automine on.
// Interval mining is switched on per test with evm_setIntervalMining.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      mining: { auto: true },
      accounts: { mnemonic: "test test test test test test test test test test test junk", count: 10 },
      allowBlocksWithSameTimestamp: false,
    },
  },
};
